"""The collection's action plugins, on the controller: a role's host is converged by the very
code `invoke` runs (its kind's facts, pure plan and apply), through Ansible's connection.

Each round trip is one run of the collection's `agent` module, whose argument is the agent
program queueops sends over SSH (transport/assembly.py): the host half is the agent's own
code, assembled here, never a copy. A no-op is one module run per host and role (the
facts); a change is two (the apply). The plugins import this module when they first run;
it loads no SSH library of queueops' own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from queueops.agent import facts as facts_module
from queueops.errors import QueueopsError, RemoteError
from queueops.inventory.ansible_vars import role_defaults, role_host
from queueops.inventory.host import OS_FAMILY_KEY
from queueops.inventory.loader import Host
from queueops.kinds import KINDS, host_settings
from queueops.kinds.base import Kind
from queueops.kinds.hosts import by_rule, lint_host
from queueops.lint.findings import format_findings, has_errors
from queueops.plan.report import HostResult
from queueops.plan.templates import write_tree
from queueops.protocol import Facts, FactsRequest
from queueops.transport.assembly import program

# The module that runs an agent program on the host.
AGENT_MODULE = "queueops.laravel.agent"

Request = TypeVar("Request", bound=Mapping[str, Any])
Answer = TypeVar("Answer")


class Action(Protocol):
    """What of Ansible's ActionBase this uses."""

    def _execute_module(
        self, module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]
    ) -> dict[str, Any]: ...


class AnsibleSession:
    """transport.agent.AgentSession over Ansible's connection to the host."""

    def __init__(self, action: Action, name: str, task_vars: dict[str, Any]) -> None:
        self.action = action
        self.name = name
        self.task_vars = task_vars
        # Module runs, as the --json report of invoke counts its commands.
        self.runs = 0

    def call(
        self,
        operation: Callable[[Request], Answer],
        request: Request,
        timeout: float = 600,
        also: Sequence[str] = (),
    ) -> Answer:
        text = program(operation.__module__, request, also=tuple(also))
        self.runs += 1
        result = self.action._execute_module(
            module_name=AGENT_MODULE, module_args={"program": text}, task_vars=self.task_vars
        )
        if result.get("failed") or "answer" not in result:
            raise RemoteError(f"{self.name}: {result.get('msg') or 'the queueops agent failed'}")
        return cast(Answer, result["answer"])

    def facts(self, request: FactsRequest) -> Facts:
        return self.call(facts_module.facts, request)


def kind_named(name: str) -> Kind[Any, Any, Any]:
    for kind in KINDS:
        if kind.name == name:
            return kind
    known = ", ".join(k.name for k in KINDS)
    raise QueueopsError(f"no kind {name!r}: the kinds are {known}")


def play_host(task_vars: Mapping[str, Any], template: Callable[[Any], Any]) -> Host:
    """The host as queueops sees it, from the play's variables (templated as Ansible would):
    every role's variables the play has, os_family, its groups and every group's members."""
    name = str(task_vars["inventory_hostname"])
    wanted = [*role_defaults(), OS_FAMILY_KEY]
    variables = {key: template(task_vars[key]) for key in wanted if key in task_vars}
    groups = tuple(str(g) for g in task_vars.get("group_names", ()))
    members = {
        str(group): tuple(str(h) for h in hosts)
        for group, hosts in (task_vars.get("groups") or {}).items()
    }
    source = str(task_vars.get("inventory_file") or "inventory")
    host = role_host(variables, name, source, groups, members)
    if OS_FAMILY_KEY in variables:
        host.vars[OS_FAMILY_KEY] = variables[OS_FAMILY_KEY]
    return host


def converge(
    action: Action,
    kind_name: str,
    task_vars: dict[str, Any],
    template: Callable[[Any], Any],
    check: bool,
) -> dict[str, Any]:
    """The kind's converge task on this host, as Ansible's result: `changed` when the plan
    changes anything (with --check too), `diff` the files' unified diffs, `msg` the row
    `invoke` would print, `failed` with invoke's message."""
    name = str(task_vars.get("inventory_hostname", "?"))
    session = AnsibleSession(action, name, task_vars)
    try:
        kind = kind_named(kind_name)
        host = play_host(task_vars, template)
        settings = host_settings(host, frozenset(role_defaults()))
        base = Path(host.source).parent
        errors = [f for f in by_rule(lint_host(host, settings, base)) if f.severity == "error"]
        if has_errors(errors):
            raise QueueopsError(
                "the inventory has lint errors; nothing was touched:\n" + format_findings(errors)
            )
        reason = kind.skip(settings)
        if reason is not None:
            return {"changed": False, "skipped": True, "msg": f"skip {kind.name}: {reason}"}
        plan = kind.plan(settings, kind.facts(session, settings))
        result = HostResult.of(name, plan)
        if not check and plan.changed:
            kind.apply(session, settings, plan, result)
    except QueueopsError as exc:
        return {"failed": True, "msg": str(exc).removeprefix(f"{name}: "), "runs": session.runs}
    detail = ", ".join(f"{i['action']} {i['item']}" for i in result.items) or "nothing to change"
    return {
        "changed": plan.changed,
        "msg": detail,
        "items": result.items,
        "diff": [{"prepared": diff} for diff in result.diffs],
        "runs": session.runs,
    }


def render(task_vars: dict[str, Any], template: Callable[[Any], Any], dest: str) -> dict[str, Any]:
    """`invoke render` for this host: every kind's files, written under `dest` on the
    controller, without contacting the host."""
    name = str(task_vars.get("inventory_hostname", "?"))
    try:
        host = play_host(task_vars, template)
        settings = host_settings(host, frozenset(role_defaults()))
        files = {p: t for kind in KINDS for p, t in kind.render(host, settings).items()}
        written = write_tree(files, Path(dest))
    except (QueueopsError, ValueError) as exc:
        return {"failed": True, "msg": str(exc).removeprefix(f"{name}: ")}
    return {"changed": bool(written), "files": [str(p) for p in written]}
