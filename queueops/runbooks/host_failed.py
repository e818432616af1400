"""Failed jobs on the host, through the app's own queue.failer (whatever its driver)."""

from __future__ import annotations

import json

from queueops.agent.common import AgentError
from queueops.agent.laravel import BOOT_PHP, app_config, artisan, failed_store, run_as
from queueops.runbooks.host_audit import audited

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.agent.common import Operation
    from queueops.runbooks.protocol import (
        FailedForgotten,
        FailedRequest,
        FailedRetried,
        FailedRows,
        FailedStore,
    )

# Boots the app as artisan does and talks to its queue.failer (whatever its driver and
# database): `list` prints one JSON row per line; `forget` forgets the ids read on stdin.
FAILER_PHP = (
    BOOT_PHP
    + r"""
$failer = $app['queue.failer'];
if ($argv[1] === 'list') {
    foreach ($failer->all() as $row) { echo json_encode((array) $row), "\n"; }
} else {
    $gone = 0;
    foreach (preg_split('/\s+/', trim(stream_get_contents(STDIN))) as $id) {
        if ($id !== '' && $failer->forget($id)) { $gone++; echo $id, "\n"; }
    }
}
"""
)


def failer(request: FailedRequest, action: str, ids: list[str] | None = None) -> list[str]:
    code, out, err = run_as(
        request["user"],
        request["app_path"],
        [request["php"], "-r", FAILER_PHP, action],
        timeout=300,
        stdin="\n".join(ids or []),
    )
    if code != 0:
        tail = " ".join((out + err).split())[-300:]
        raise AgentError(f"reading the app's failed jobs failed (exit {code}): {tail}")
    return [line for line in out.splitlines() if line.strip()]


def store_of(request: FailedRequest) -> dict[str, str]:
    return failed_store(app_config(request["app_path"], request["php"], request["user"])[0])


def failed_list(request: FailedRequest) -> FailedRows:
    rows = [json.loads(line) for line in failer(request, "list")]
    return {"rows": rows, "store": store_of(request)}


def failed_store_op(request: FailedRequest) -> FailedStore:
    return {"store": store_of(request)}


def failed_forget(request: FailedRequest) -> FailedForgotten:
    """Forget exactly the exported ids; a job that failed since stays."""

    def work() -> FailedForgotten:
        gone = failer(request, "forget", request.get("ids", []))
        return {
            "forgotten": gone,
            "summary": f"forgot {len(gone)} of {len(request.get('ids', []))}",
        }

    return audited(request, work)


def failed_retry(request: FailedRequest) -> FailedRetried:
    """`queue:retry` for the ids (all when none): Laravel pushes each back, then forgets it."""

    def work() -> FailedRetried:
        ids = request.get("ids") or ["all"]
        code, out = artisan(request, "queue:retry", *ids, timeout=600)
        if code != 0:
            raise AgentError(f"queue:retry exited {code}: {' '.join(out.split())[-300:]}")
        pushed = sum(1 for line in out.splitlines() if "pushed back onto the queue" in line)
        return {"pushed": pushed, "summary": f"queue:retry pushed {pushed} jobs back"}

    return audited(request, work)


OPERATIONS: dict[str, Operation] = {
    "failed_list": failed_list,
    "failed_store": failed_store_op,
    "failed_forget": failed_forget,
    "failed_retry": failed_retry,
}
