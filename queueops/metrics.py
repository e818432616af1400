"""invoke metrics: the Prometheus text exposition of each host; with --install, a
node_exporter textfile-collector file kept fresh on the host by a supervisor program."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.agent_observe import METRIC_PREFIX, METRICS
from queueops.fleet_run import HostJob
from queueops.horizon_settings import HorizonSettings
from queueops.observe import observe_request
from queueops.plan import facts_request, host_platform
from queueops.remote import HostSession, agent_source
from queueops.render import _environment, managed_header
from queueops.report import HostResult
from queueops.settings import HostSettings
from queueops.shell import cmd

# Debian's prometheus-node-exporter reads this directory (--collector.textfile.directory).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILE_NAME = "queueops.prom"
INTERVAL = 30
PROGRAM_NAME = "queueops-metrics"
RUNNER_PATH = "/usr/local/lib/queueops/metrics-refresher.py"
LOG_FILE = "/var/log/queueops-metrics.log"
TEMPLATE = "supervisor/metrics-refresher.conf.j2"


def metric_names() -> list[str]:
    """Every metric name `invoke metrics` exposes (alert rules and dashboards use these)."""
    return [METRIC_PREFIX + name for name in METRICS]


def merge_expositions(texts: list[str]) -> str:
    """Several hosts' expositions as one valid document: each metric's HELP and TYPE once,
    followed by every host's samples of it (the text format forbids repeating them)."""
    order: list[str] = []
    headers: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for text in texts:
        current = ""
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                current = line.split()[2]
                if current not in headers:
                    order.append(current)
                    headers[current], samples[current] = [], []
                if line not in headers[current]:
                    headers[current].append(line)
            elif line.strip():
                samples.setdefault(current, []).append(line)
    lines = [line for name in order for line in headers[name] + samples[name]]
    return "\n".join(lines) + "\n" if lines else ""


def metrics_request(settings: HostSettings, horizon: HorizonSettings | None) -> dict[str, Any]:
    return {**observe_request(settings, horizon), "op": "metrics", "host": settings.name}


def render_program(textfile: str, interval: int) -> str:
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            header=managed_header(TEMPLATE),
            name=PROGRAM_NAME,
            command=cmd("python3", "-I", "-S", RUNNER_PATH),
            textfile=textfile,
            interval=interval,
            log_file=LOG_FILE,
        )
    )


def metrics_job(
    horizons: Mapping[str, HorizonSettings | None],
    texts: dict[str, str],
    install: bool,
    textfile_dir: str = TEXTFILE_DIR,
    interval: int = INTERVAL,
) -> HostJob:
    """Collect each host's exposition into `texts`; with `install`, also leave the refresher."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = horizons.get(settings.name)
        answer = session.agent(metrics_request(settings, horizon))
        texts[settings.name] = answer["text"]
        if not install:
            return HostResult(settings.name, "ok")
        platform = host_platform(settings, session.agent(facts_request(settings)))
        textfile = f"{textfile_dir}/{TEXTFILE_NAME}"
        refresh = {
            **observe_request(settings, horizon),
            "host": settings.name,
            "textfile": textfile,
            "interval": interval,
        }
        done = session.agent(
            {
                "op": "metrics_install",
                "source": agent_source("observe"),
                "refresh": refresh,
                "runner_path": RUNNER_PATH,
                "program_name": PROGRAM_NAME,
                "program_path": platform.program_path(PROGRAM_NAME),
                "program": render_program(textfile, interval),
                "supervisor_config": platform.supervisor_config,
            }
        )
        items = [{"item": c, "action": "write", "status": "changed"} for c in done["changed"]]
        return HostResult(settings.name, "changed" if items else "ok", items=items)

    return job
