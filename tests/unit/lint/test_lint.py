"""invoke lint's checks, without hosts.

cases/lint/rules/*.yml: one inventory of host web1 (group workers) per case, built like the
other data cases (hosts, group_vars, host_vars), and the findings it must produce:
  expected:  [{rule, severity, file (relative to the inventory), key}]; [] for a clean case.
cases/lint/broken/: one inventory that trips every rule an inventory can trip;
cases/lint/broken-expected.yml lists its findings in order.
Rules on templates (QO103, QO105, QO106) are tested on rendered text, modified here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from queueops.errors import InventoryError
from queueops.inventory.loader import Inventory, load_inventory
from queueops.inventory.yamlfile import read_yaml
from queueops.kinds import host_settings
from queueops.kinds.horizon.plan import HORIZON_PROGRAM_TEMPLATE, render_program
from queueops.kinds.horizon.settings import horizon_settings
from queueops.kinds.hosts import all_rules, lint_inventory, refused
from queueops.kinds.workers.render import PROGRAM_TEMPLATE, render_programs
from queueops.kinds.workers.settings import worker_of
from queueops.lint.findings import Finding, findings_json, format_findings, has_errors
from queueops.platforms import PLATFORMS
from queueops.supervisor.lint import lint_program_file

from ..trees import EXAMPLE_INVENTORY, REPO, ROLES_DIR, write_inventory

CASES = Path(__file__).parent / "cases"
RULES = all_rules()
TEMPLATE_RULES = {"QO103", "QO105", "QO106", "QO110"}
INVENTORY_RULES = set(RULES) - TEMPLATE_RULES


def _rule_cases() -> list[Any]:
    return [pytest.param(read_yaml(p), id=p.stem) for p in sorted((CASES / "rules").glob("*.yml"))]


def _summary(findings: list[Finding], base: Path) -> list[dict[str, str]]:
    return [
        {
            "rule": f.rule,
            "severity": f.severity,
            "host": f.host,
            "file": Path(f.file).relative_to(base).as_posix(),
            "key": f.key,
        }
        for f in findings
    ]


def _inventory(root: Path, case: dict[str, Any]) -> Inventory:
    host_vars = case.get("host_vars")
    write_inventory(
        root,
        case.get("hosts"),
        case.get("group_vars"),
        None if host_vars is None else {"web1": host_vars},
    )
    return load_inventory(root, ROLES_DIR)


def test_every_inventory_rule_has_a_tripping_and_a_clean_case() -> None:
    names = {p.stem for p in (CASES / "rules").glob("*.yml")}
    tripped = {
        item["rule"] for p in (CASES / "rules").glob("*.yml") for item in read_yaml(p)["expected"]
    }
    assert tripped == INVENTORY_RULES
    for rule in INVENTORY_RULES:
        assert f"{rule.lower()}-clean" in names, rule


@pytest.mark.parametrize("case", _rule_cases())
def test_rule_case(tmp_path: Path, case: dict[str, Any]) -> None:
    findings = lint_inventory(_inventory(tmp_path, case))
    expected = [{"host": "web1", **item} for item in case["expected"]]
    assert _summary(findings, tmp_path) == expected
    assert all(f.message and f.fix for f in findings)


def test_broken_inventory_trips_every_inventory_rule() -> None:
    base = CASES / "broken"
    findings = lint_inventory(load_inventory(base, ROLES_DIR))
    expected = read_yaml(CASES / "broken-expected.yml")["findings"]
    assert _summary(findings, base) == expected
    assert {f.rule for f in findings} == INVENTORY_RULES
    assert {f.severity for f in findings} == {"error", "warning"}
    assert "web2" not in {f.host for f in findings}
    assert has_errors(findings)


@pytest.mark.parametrize("inventory", ["example", "lab"])
def test_shipped_inventories_lint_clean(inventory: str) -> None:
    findings = lint_inventory(load_inventory(REPO / "inventories" / inventory, ROLES_DIR))
    assert findings == [], format_findings(findings)
    assert format_findings(findings) == "0 errors, 0 warnings"


def test_example_inventory_path_as_given_is_the_file_path() -> None:
    # The same inventory given by its hosts file: files are still named from its directory.
    findings = lint_inventory(load_inventory(EXAMPLE_INVENTORY / "hosts.yml", ROLES_DIR))
    assert findings == []


# --- validation comes first, and lint does not repeat its refusals ------------------------


@pytest.mark.parametrize(
    ("host_vars", "refusal"),
    [
        (
            {
                "queue_worker_retry_after": 60,
                "horizon_environments": {"production": {"s1": {"queue": ["a"], "timeout": 60}}},
            },
            "horizon_environments.production.s1.timeout: 60 s must stay below",
        ),
        (
            {"horizon_stopwaitsecs": 60},
            "horizon_stopwaitsecs: 60 s must exceed the longest supervisor timeout",
        ),
        (
            {
                "horizon_environments": {
                    "production": {"s1": {"queue": ["a"], "minProcesses": 3, "maxProcesses": 2}}
                }
            },
            "minProcesses: 3 is more than maxProcesses 2",
        ),
        ({"redis_queue_maxmemory_policy": "allkeys-lru"}, "allkeys-lru is refused"),
        ({"queue_worker_user": "root"}, "workers must not run as root"),
        ({"horizon_user": "root"}, "workers must not run as root"),
    ],
)
def test_what_validation_refuses_is_one_qo100_finding_no_rule_repeats(
    tmp_path: Path, host_vars: dict[str, Any], refusal: str
) -> None:
    inventory = _inventory(tmp_path, {"host_vars": host_vars})
    findings = lint_inventory(inventory)
    naming = [f for f in findings if refusal.split(": ", 1)[-1] in f"{f.key}: {f.message}"]
    assert len(naming) == 1, findings
    (finding,) = naming
    assert (finding.rule, finding.severity, finding.host) == ("QO100", "error", "web1")
    assert finding.file.endswith("host_vars/web1.yml")
    assert refused(findings)
    # The strict path, which the converge tasks take, still refuses before any host.
    with pytest.raises(InventoryError, match=re.escape(refusal)):
        host_settings(inventory.hosts["web1"], inventory.role_keys)


def test_one_run_reports_every_finding_of_every_kind(tmp_path: Path) -> None:
    """An evicting Redis policy (refused by validation), a worker timeout above retry_after
    and a short stopwaitsecs: all three in one run, not one per run."""
    inventory = _inventory(
        tmp_path,
        {
            "host_vars": {
                "redis_queue_maxmemory_policy": "allkeys-lru",
                "queue_worker_retry_after": 60,
                "queue_worker_programs": [
                    {"name": "mail", "queues": ["mail"], "timeout": 90, "stopwaitsecs": 20}
                ],
            }
        },
    )
    findings = lint_inventory(inventory)
    shown = {(f.rule, f.key) for f in findings if f.severity == "error"}
    assert ("QO100", "redis_queue_maxmemory_policy") in shown
    assert any(rule == "QO101" for rule, _ in shown)
    assert any(rule == "QO102" for rule, _ in shown)
    assert refused(findings)


# --- template invariants, on rendered text ------------------------------------------------


def _rendered(tmp_path: Path) -> list[tuple[str, str, str]]:
    """(template, path, text) of a worker program with numprocs 2 and of Horizon, per OS."""
    inventory = _inventory(
        tmp_path,
        {
            "host_vars": {
                "queue_worker_programs": [{"name": "emails", "queues": ["e"], "processes": 2}],
                "horizon_environments": {"production": {"s1": {"queue": ["default"]}}},
            }
        },
    )
    host = inventory.hosts["web1"]
    worker = worker_of(host_settings(host, inventory.role_keys))
    horizon = horizon_settings(host)
    out = []
    for platform in PLATFORMS.values():
        for path, text in render_programs(worker, platform, {"emails": "redis"}).items():
            out.append((PROGRAM_TEMPLATE, path, text))
        out.append(
            (
                HORIZON_PROGRAM_TEMPLATE,
                platform.program_path(horizon.program_name),
                render_program(horizon, platform),
            )
        )
    return out


def test_rendered_programs_keep_every_template_invariant(tmp_path: Path) -> None:
    rendered = _rendered(tmp_path)
    assert len(rendered) == 4
    for template, path, text in rendered:
        assert lint_program_file("web1", template, path, text) == [], path


def _worker_text(tmp_path: Path) -> str:
    return next(t for tpl, p, t in _rendered(tmp_path) if tpl == PROGRAM_TEMPLATE)


def _trip(text: str) -> list[tuple[str, str, str]]:
    findings = lint_program_file("web1", PROGRAM_TEMPLATE, "/etc/supervisor/conf.d/x.conf", text)
    assert all(f.severity == "error" and f.host == "web1" for f in findings)
    assert all(f.file == "templates/supervisor/program.conf.j2" for f in findings)
    return [(f.rule, f.key, f.message) for f in findings]


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        ("autorestart=true\n", "", "autorestart is not set"),
        ("autorestart=true\n", "autorestart=unexpected\n", "autorestart is unexpected"),
        ("autorestart=true\n", "autorestart=false\n", "autorestart is false"),
    ],
)
def test_qo103_autorestart_must_be_true(tmp_path: Path, old: str, new: str, shown: str) -> None:
    text = _worker_text(tmp_path)
    assert old in text
    ((rule, key, message),) = _trip(text.replace(old, new))
    assert (rule, key) == ("QO103", "[program:emails].autorestart")
    assert shown in message


def test_qo105_numprocs_needs_process_num(tmp_path: Path) -> None:
    text = _worker_text(tmp_path)
    assert "numprocs=2\n" in text
    broken = re.sub(r"process_name=.*\n", "process_name=%(program_name)s\n", text)
    ((rule, key, message),) = _trip(broken)
    assert (rule, key) == ("QO105", "[program:emails].process_name")
    assert "numprocs=2" in message
    # Without a process_name, supervisor's default has no %(process_num) either.
    assert [r for r, _, _ in _trip(re.sub(r"process_name=.*\n", "", text))] == ["QO105"]
    # One process needs no number.
    assert _trip(broken.replace("numprocs=2\n", "numprocs=1\n")) == []


def test_qo106_rendered_user_is_never_root(tmp_path: Path) -> None:
    text = _worker_text(tmp_path)
    root = re.sub(r"\nuser=.*\n", "\nuser=root\n", text)
    ((rule, key, message),) = _trip(root)
    assert (rule, key) == ("QO106", "[program:emails].user")
    assert "user is root" in message
    ((rule, _, message),) = _trip(re.sub(r"\nuser=.*\n", "\n", text))
    assert rule == "QO106"
    assert "supervisord's own user, root" in message


def test_horizon_template_is_named_in_its_findings(tmp_path: Path) -> None:
    template, path, text = next(r for r in _rendered(tmp_path) if r[0] == HORIZON_PROGRAM_TEMPLATE)
    (finding,) = lint_program_file("web1", template, path, text.replace("autorestart=true", ""))
    assert (finding.rule, finding.file, finding.key) == (
        "QO103",
        "templates/supervisor/horizon.conf.j2",
        "[program:horizon].autorestart",
    )
    assert finding.message.startswith(f"{path}: [program:horizon]: ")


# --- output ---------------------------------------------------------------------------------

ERROR = Finding(
    "QO101",
    "error",
    "api1",
    "inventories/x/group_vars/workers.yml",
    "queue_worker_programs[0].timeout",
    "why",
    "what to change",
)
WARNING = Finding("QO107", "warning", "api1", "f.yml", "k", "leaks", "set max_time")


def test_format_findings_one_block_each_then_the_counts() -> None:
    assert format_findings([ERROR, WARNING]) == (
        "ERROR QO101 inventories/x/group_vars/workers.yml host api1 "
        "queue_worker_programs[0].timeout: why\n"
        "  Fix: what to change\n"
        "\n"
        "WARNING QO107 f.yml host api1 k: leaks\n"
        "  Fix: set max_time\n"
        "\n"
        "1 error, 1 warning"
    )
    assert format_findings([ERROR, ERROR, WARNING, WARNING]).endswith("2 errors, 2 warnings")


def test_findings_json_and_has_errors() -> None:
    document = json.loads(findings_json([ERROR, WARNING]))
    assert document["errors"] == 1
    assert document["warnings"] == 1
    assert document["findings"][0] == {
        "rule": "QO101",
        "severity": "error",
        "host": "api1",
        "file": "inventories/x/group_vars/workers.yml",
        "key": "queue_worker_programs[0].timeout",
        "message": "why",
        "fix": "what to change",
    }
    assert json.loads(findings_json([])) == {"findings": [], "errors": 0, "warnings": 0}
    assert has_errors([WARNING, ERROR])
    assert not has_errors([WARNING])
    assert not has_errors([])


def test_every_rule_is_documented() -> None:
    docs = (REPO / "docs" / "lint.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"### {rule}" in docs, rule


def test_invoke_lint_lists_refusals_and_rule_findings_and_exits_2(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    write_inventory(
        root,
        host_vars={
            "web1": {
                "redis_queue_maxmemory_policy": "allkeys-lru",
                "queue_worker_retry_after": 60,
                "queue_worker_programs": [
                    {"name": "mail", "queues": ["mail"], "timeout": 90, "stopwaitsecs": 20}
                ],
            }
        },
    )
    invoke = str(Path(sys.executable).with_name("invoke"))
    result = subprocess.run(
        [invoke, "lint", "-i", str(root)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    for rule in ("ERROR QO100", "ERROR QO101", "ERROR QO102"):
        assert rule in result.stdout, result.stdout
    assert "Traceback" not in result.stderr


def test_invoke_lint_refuses_absurd_process_counts_and_hidden_program_names(
    tmp_path: Path,
) -> None:
    root = tmp_path / "inv"
    write_inventory(
        root,
        host_vars={
            "web1": {
                "queue_worker_programs": [
                    {"name": "mail", "queues": ["mail"], "processes": 10000},
                    {"name": ".hidden", "queues": ["hidden"]},
                ],
            }
        },
    )
    invoke = str(Path(sys.executable).with_name("invoke"))
    result = subprocess.run(
        [invoke, "lint", "-i", str(root)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    shown = result.stdout + result.stderr
    assert "web1" in shown and "queue_worker_programs[0].processes" in shown, shown
    assert "must be between 1 and 1024, got 10000" in shown
    assert "Traceback" not in result.stderr
    # One refusal a host: the name is refused when the count is right.
    write_inventory(
        root,
        host_vars={"web1": {"queue_worker_programs": [{"name": ".hidden", "queues": ["h"]}]}},
    )
    hidden = subprocess.run(
        [invoke, "lint", "-i", str(root)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert hidden.returncode == 2, hidden.stdout + hidden.stderr
    assert "'.hidden': program names cannot start with '.'" in hidden.stdout + hidden.stderr
