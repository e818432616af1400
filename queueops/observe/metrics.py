"""invoke metrics: the Prometheus text exposition of each host; with --install, a
node_exporter textfile-collector file kept fresh on the host by a supervisor program."""

from __future__ import annotations

import importlib

from queueops.inventory.host import HostSettings
from queueops.kinds import KINDS
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import worker_of
from queueops.observe import host
from queueops.observe.observation import kind_modules, observe_request
from queueops.observe.protocol import (
    METRIC_PREFIX,
    METRICS,
    MODULE,
    MetricsInstallRequest,
    ObserveRequest,
    RefreshRequest,
)
from queueops.plan.changes import host_platform
from queueops.plan.report import HostResult
from queueops.plan.templates import managed_header, render
from queueops.protocol import ReportItem
from queueops.shell import cmd
from queueops.transport.assembly import program
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession

# Debian's prometheus-node-exporter reads this directory (--collector.textfile.directory).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILE_NAME = "queueops.prom"
INTERVAL = 30
PROGRAM_NAME = "queueops-metrics"
RUNNER_PATH = "/usr/local/lib/queueops/metrics-refresher.py"
LOG_FILE = "/var/log/queueops-metrics.log"
TEMPLATE = "supervisor/metrics-refresher.conf.j2"


def metric_names() -> list[str]:
    """Every metric name `invoke metrics` exposes (alert rules and dashboards use these): every
    observation's, and those of each kind that observes something of its own."""
    names = list(METRICS)
    for kind in KINDS:
        if kind.observation is not None:
            names += list(importlib.import_module(kind.host_module).METRICS)
    return [METRIC_PREFIX + name for name in names]


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


def metrics_request(settings: HostSettings) -> ObserveRequest:
    return {**observe_request(settings), "op": "metrics", "host": settings.name}


def render_program(textfile: str, interval: int) -> str:
    return render(
        TEMPLATE,
        header=managed_header(TEMPLATE),
        name=PROGRAM_NAME,
        command=cmd("python3", "-I", "-S", RUNNER_PATH),
        textfile=textfile,
        interval=interval,
        log_file=LOG_FILE,
    )


def metrics_job(
    texts: dict[str, str],
    install: bool,
    textfile_dir: str = TEXTFILE_DIR,
    interval: int = INTERVAL,
) -> HostJob:
    """Collect each host's exposition into `texts`; with `install`, also leave the refresher."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        asked = metrics_request(settings)
        answer = session.call(host.metrics, asked, also=kind_modules(asked))
        texts[settings.name] = answer["text"]
        if not install:
            return HostResult(settings.name, "ok")
        platform = host_platform(settings, session.facts(facts_request(worker_of(settings))))
        textfile = f"{textfile_dir}/{TEXTFILE_NAME}"
        refresh: RefreshRequest = {
            **observe_request(settings),
            "host": settings.name,
            "textfile": textfile,
            "interval": interval,
        }
        install_request: MetricsInstallRequest = {
            "op": "metrics_install",
            "source": program(MODULE, refresh, call="refresh_forever", also=kind_modules(refresh)),
            "textfile": textfile,
            "runner_path": RUNNER_PATH,
            "program_name": PROGRAM_NAME,
            "program_path": platform.program_path(PROGRAM_NAME),
            "program": render_program(textfile, interval),
            "supervisor_config": platform.supervisor_config,
        }
        done = session.call(host.install_metrics, install_request)
        items: list[ReportItem] = [
            {"item": c, "action": "write", "status": "changed"} for c in done["changed"]
        ]
        return HostResult(settings.name, "changed" if items else "ok", items=items)

    return job
