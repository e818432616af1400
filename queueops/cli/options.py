"""The options host tasks share, declared once, and the decorator that gives them to a task.

Invoke reads a task's options from its function's signature. A task body here declares only
its own parameters after `o: Options`; `host_task` builds the signature Invoke sees from the
option sets the task takes, and hands their values to the body as one Options.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

from queueops.cli.errors import operator_errors
from queueops.errors import UsageError
from queueops.inventory.vault import Vault
from queueops.plan.report import RunReport
from queueops.transport.fleet import Reach, resolve_forks


@dataclass(frozen=True)
class Options:
    host: str | None = None
    group: str | None = None
    all_: bool = False
    # -i, repeatable (Invoke gives [] when it is not given).
    inventory: list[str] | None = None
    check: bool = False
    diff: bool = False
    json_: bool = False
    yes: bool = False
    # 0: not given on the command line.
    forks: int = 0
    accept_new_host_keys: bool = False
    vault_password_file: list[str] | None = None
    vault_id: list[str] | None = None

    def vault(self) -> Vault:
        """--vault-password-file and --vault-id (Ansible's own settings come on top)."""
        return Vault(tuple(self.vault_password_file or ()), tuple(self.vault_id or ()))

    def selection(self) -> dict[str, Any]:
        """The selectors as the audit logs record them."""
        return {"host": self.host, "group": self.group, "all": self.all_}

    def reach(self, c: Context) -> Reach:
        """How this run reaches its hosts: --forks and --accept-new-host-keys, else
        invoke.yaml's queueops.forks and queueops.host_key_checking."""
        config = c.config.get("queueops", {})
        checking = config.get("host_key_checking", "strict")
        if checking not in ("strict", "accept-new"):
            raise UsageError(
                f"queueops.host_key_checking in invoke.yaml must be strict or accept-new, "
                f"got {checking!r}"
            )
        accept = self.accept_new_host_keys or checking == "accept-new"
        return Reach.for_terminal(
            resolve_forks(self.forks or None, config.get("forks")), accept, self.json_
        )


# (parameter, help): each default is Options'.
OptionSet = tuple[tuple[str, str], ...]
SELECT: OptionSet = (
    ("host", "one host of the inventory"),
    ("group", "every host of one inventory group"),
    ("all_", "every host of the inventory"),
    (
        "inventory",
        "inventory source: a directory, a file (YAML, INI, JSON, a plugin's configuration) or "
        "a script; repeatable (default: QUEUEOPS_INVENTORY, then invoke.yaml)",
    ),
)
INVENTORY: OptionSet = (SELECT[3],)
JSON: OptionSet = (("json_", "print the result as JSON"),)
CHECK: OptionSet = (("check", "report what would change; touch nothing"),)
DIFF: OptionSet = (("diff", "show unified diffs of the files that change"),)
YES: OptionSet = (("yes", "do not ask for confirmation (needed without a terminal)"),)
# Every task that contacts hosts takes these, last: they came later than the others, and
# Invoke gives short flags in signature order, so the earlier options keep theirs.
REACH: OptionSet = (
    ("forks", "hosts in flight at once (default: QUEUEOPS_FORKS, invoke.yaml, then 20)"),
    ("accept_new_host_keys", "accept and record the keys of hosts not in known_hosts yet"),
)
# Every task that reads the inventory takes these, after all the others (as REACH).
VAULT: OptionSet = (
    ("vault_password_file", "file (or script) with the Ansible Vault password; repeatable"),
    ("vault_id", "Ansible Vault identity, [LABEL@]FILE or [LABEL@]prompt; repeatable"),
)
# Options Invoke collects into a list, given once per value.
REPEATABLE = ("inventory", "vault_password_file", "vault_id")
CONVERGE = (*SELECT, *JSON, *CHECK, *DIFF)
RUNBOOK = (*SELECT, *JSON, ("check", "print what would be done; touch nothing"))
DESTRUCTIVE = (*RUNBOOK, *YES)

_DEFAULTS = {f.name: f.default for f in fields(Options)}


def host_task(
    options: OptionSet,
    help: Mapping[str, str] | None = None,
    first: tuple[str, ...] = (),
    reach: bool = True,
    **task_kwargs: Any,
) -> Callable[[Callable[..., None]], Task[Any]]:
    """An Invoke task whose body is `body(c: Context, o: Options, *own parameters)`.

    `options` are the shared options the task takes (a later entry overrides an earlier
    one's help); `help` gives the task's own parameters' help, and may override a shared one.
    Invoke gives short flags in signature order: own parameters come after the shared ones,
    except those named in `first`, so that each task keeps the short flags it always had.
    With `reach` (a task that contacts hosts) the REACH options come last, and with the
    inventory option the VAULT options after them.
    """
    shared = dict(options)
    late = {**(dict(REACH) if reach else {}), **(dict(VAULT) if "inventory" in shared else {})}
    lists = [*task_kwargs.pop("iterable", []), *(n for n in REPEATABLE if n in shared | late)]

    def decorate(body: Callable[..., None]) -> Task[Any]:
        context, _, *own = inspect.signature(body).parameters.values()
        required = [p for p in own if p.default is inspect.Parameter.empty]
        early = [p for p in own if p.name in first]
        optional = [p for p in own if p.default is not inspect.Parameter.empty and p not in early]

        def params(names: Mapping[str, str]) -> list[inspect.Parameter]:
            kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
            return [inspect.Parameter(n, kind, default=_DEFAULTS[n]) for n in names]

        @functools.wraps(body)
        def wrapper(c: Context, **kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in (*shared, *late) if name in kwargs}
            body(c, Options(**values), **kwargs)

        wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [context, *required, *early, *params(shared), *optional, *params(late)]
        )
        helps = {n.rstrip("_"): text for n, text in (shared | late).items()} | dict(help or {})
        made: Task[Any] = task(help=helps, iterable=lists, **task_kwargs)(operator_errors(wrapper))
        return made

    return decorate


def config_inventory(c: Context) -> list[str]:
    """The configured inventory sources (one or a list): queueops.yaml's (made absolute when it
    was read), or an invoke.yaml's, whose relative paths are relative to it (the directory of
    the tasks.py beside it, where Invoke found both), whatever the working directory."""
    value = c.config.get("queueops", {}).get("inventory")
    values = value if isinstance(value, list) else [value] if value else []
    project = getattr(c.config, "_project_prefix", None)
    base = Path(project) if project else Path.cwd()
    return [str(base / str(v)) for v in values]


def finish(report: RunReport, as_json: bool, show_diff: bool = False) -> None:
    print(report.to_json() if as_json else report.to_text(show_diff))
    if report.failed:
        raise Exit(code=1)
