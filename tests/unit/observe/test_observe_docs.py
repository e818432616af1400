"""The shipped alert rules and Grafana dashboard use exactly the metrics `invoke metrics` has."""

from __future__ import annotations

import json
import re
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
