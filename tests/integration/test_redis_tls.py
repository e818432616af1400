"""An app that reaches its Redis over TLS (REDIS_SCHEME=tls, phpredis's context.stream.cafile):
queueops reaches it the same way, verifying the server as the app does, and never sends the
password over plain TCP. redis1 serves TLS only on REDIS_TLS_PORT, with the lab's CA."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from queueops.lab.fleet import REDIS_CA_FILE, REDIS_TLS_PORT
from tests.conftest import Lab
from tests.integration.test_setup_worker import artisan, inventory, program, queueops

pytestmark = pytest.mark.lab

QUEUE = "tls-q"
ENV = "/var/www/app/.env"
TLS = {"REDIS_SCHEME": "tls", "REDIS_PORT": str(REDIS_TLS_PORT)}


@pytest.fixture
def app_env(lab: Lab) -> Generator[Callable[[dict[str, str]], None], None, None]:
    """Sets variables in app1's .env (each line replaced or appended); the original is put
    back afterwards."""
    original = lab.ssh("app1", f"cat {ENV}").stdout

    def setting(values: dict[str, str]) -> None:
        text = original
        for key, value in values.items():
            text = re.sub(rf"^{key}=.*\n", "", text, flags=re.M) + f"{key}={value}\n"
        lab.ssh("app1", f"cat > {ENV} <<'EOF'\n{text}EOF")

    yield setting
    lab.ssh("app1", f"cat > {ENV} <<'EOF'\n{original}EOF")


def status_of(inv: Path) -> dict[str, object]:
    result = queueops("status", "-i", str(inv), "--host", "app1", "--json")
    app1: dict[str, object] = json.loads(result.stdout)["hosts"]["app1"]
    return app1


def test_queue_tasks_speak_tls_to_a_tls_redis_verified_with_the_apps_ca(
    lab: Lab, tmp_path: Path, app_env: Callable[[dict[str, str]], None]
) -> None:
    inv = inventory(tmp_path, lab, [program("tls", [QUEUE], processes=1)])
    app_env({**TLS, "REDIS_CA_FILE": REDIS_CA_FILE})
    # The app itself (phpredis) reaches redis1's TLS port with this configuration.
    artisan(lab, "app1", "queue:clear", "redis", f"--queue={QUEUE}", "--force")
    artisan(lab, "app1", "demo:dispatch", "--count=7", f"--queue={QUEUE}")

    app1 = status_of(inv)
    redis = app1["redis"]
    assert isinstance(redis, dict)
    assert redis["reachable"] is True, redis
    assert redis["address"] == f"tls://{lab.address('redis1')}:{REDIS_TLS_PORT}/0"
    assert app1["queues"][QUEUE]["ready"] == 7  # type: ignore[index]

    out = tmp_path / "exports"
    cleared = queueops("clear", "-i", str(inv), "--host", "app1", "--queue", QUEUE, "--yes",
                       "--out", str(out))  # fmt: skip
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert status_of(inv)["queues"][QUEUE]["ready"] == 0  # type: ignore[index]
    (export,) = out.glob("clear-*.jsonl")
    restored = queueops("restore-jobs", "-i", str(inv), str(export))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert status_of(inv)["queues"][QUEUE]["ready"] == 7  # type: ignore[index]
    artisan(lab, "app1", "queue:clear", "redis", f"--queue={QUEUE}", "--force")


def test_a_certificate_the_app_would_not_trust_is_a_named_failure_not_plain_tcp(
    lab: Lab, tmp_path: Path, app_env: Callable[[dict[str, str]], None]
) -> None:
    inv = inventory(tmp_path, lab, [program("tls", [QUEUE], processes=1)])
    # No cafile: the system's CAs, which did not sign the lab's certificate.
    app_env(TLS)
    dispatched = lab.ssh(
        "app1",
        f"cd /var/www/app && runuser -u {lab.web_user('app1')} -- php artisan demo:dispatch"
        f" --count=1 --queue={QUEUE}",
        check=False,
    )
    assert dispatched.returncode != 0, "the app itself refuses this certificate"

    redis = status_of(inv)["redis"]
    assert isinstance(redis, dict)
    where = f"tls://{lab.address('redis1')}:{REDIS_TLS_PORT}/0"
    assert redis["reachable"] is False
    assert str(redis["error"]).startswith(f"TLS with Redis at {where} failed: certificate verify")
    cleared = queueops("clear", "-i", str(inv), "--host", "app1", "--queue", QUEUE, "--yes",
                       "--out", str(tmp_path / "exports"))  # fmt: skip
    assert cleared.returncode != 0
    output = cleared.stdout + cleared.stderr
    assert "app1" in output and f"TLS with Redis at {where} failed" in output, output
    assert "Traceback" not in output

    # An app that turns verification off is followed, and status says so.
    app_env({**TLS, "REDIS_VERIFY_PEER": "false"})
    app1 = status_of(inv)
    assert app1["redis"]["reachable"] is True, app1["redis"]  # type: ignore[index]
    warning = (f"yellow: the app's Redis at {where} over TLS: server not verified "
               "(the app sets verify_peer false)")  # fmt: skip
    assert warning in app1["reasons"], app1["reasons"]  # type: ignore[operator]
