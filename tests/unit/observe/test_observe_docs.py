"""The shipped alert rules and Grafana dashboard use exactly the metrics `invoke metrics` has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from queueops.observe.metrics import metric_names

DOCS = Path(__file__).resolve().parents[3] / "docs"
NAME = re.compile(r"\bqueueops_[a-z_]+\b")


def alert_expressions() -> list[str]:
    doc: dict[str, Any] = yaml.safe_load((DOCS / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    doc: dict[str, Any] = json.loads((DOCS / "grafana" / "queueops-dashboard.json").read_text())
    exprs = [t["expr"] for panel in doc["panels"] for t in panel["targets"]]
    exprs += [v["query"] for v in doc["templating"]["list"] if v["type"] == "query"]
    return exprs


def names_in(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in NAME.findall(expr)}


def test_alert_rules_use_only_and_all_exposed_metrics() -> None:
    assert names_in(alert_expressions()) == set(metric_names())


def test_dashboard_uses_only_and_all_exposed_metrics() -> None:
    assert names_in(dashboard_expressions()) == set(metric_names())


def test_every_alert_has_a_severity_and_a_summary() -> None:
    doc = yaml.safe_load((DOCS / "prometheus" / "alerts.yml").read_text())
    for rule in doc["groups"][0]["rules"]:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Prometheus's own checker (Debian's `prometheus` package; scripts/setup installs it)."""
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: scripts/setup installs Debian's prometheus package"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(DOCS / "prometheus" / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_expressions())} rules found" in result.stdout


def test_every_alert_fires_and_stays_silent_as_its_unit_tests_say() -> None:
    tests = DOCS / "prometheus" / "alerts.test.yml"
    result = promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load((DOCS / "prometheus" / "alerts.yml").read_text())
    tested = set(re.findall(r"alertname: (\w+)", tests.read_text()))
    assert tested == {rule["alert"] for group in doc["groups"] for rule in group["rules"]}


def test_every_dashboard_expression_parses_as_promql(tmp_path: Path) -> None:
    """Grafana is not in Debian: each panel's expr, $host as a regex, becomes a recording
    rule, which promtool parses and type-checks."""
    doc: dict[str, Any] = json.loads((DOCS / "grafana" / "queueops-dashboard.json").read_text())
    exprs = [t["expr"] for panel in doc["panels"] for t in panel["targets"]]
    rules = [{"record": f"dashboard:expr_{i}", "expr": e.replace("$host", ".*")}
             for i, e in enumerate(exprs)]  # fmt: skip
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout
