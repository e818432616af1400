"""A host command that outlives its timeout is the host's named failure, never a traceback;
the operator's channel waits longer than the agent's longest step."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types
from typing import Any

import pytest

from queueops.agent import common, entry, laravel, services
from queueops.agent.common import AgentError
from queueops.transport.agent import AGENT_TIMEOUT
from queueops.transport.session import HostSession


def test_run_command_past_its_timeout_is_a_named_agent_error() -> None:
    with pytest.raises(AgentError) as caught:
        common.run_command(["sleep", "5"], timeout=0.2)
    assert str(caught.value) == "sleep 5 did not finish within 0.2 s"


def test_a_timeout_from_any_host_command_is_answered_as_the_host_s_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def slow(request: dict[str, Any]) -> dict[str, Any]:
        subprocess.run(["php", "-r", "sleep(9);" + "x" * 300], timeout=1.5, check=False)
        return {}

    module = types.ModuleType("queueops_test_slow")
    module.OPERATIONS = {"slow": slow}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(subprocess, "run", _timing_out)
    entry.main(module.__name__, {"op": "slow"})
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is False
    assert answer["error"].startswith("php -r sleep(9);xxx")
    assert answer["error"].endswith("… did not finish within 1.5 s")
    assert len(answer["error"]) < 260


def _timing_out(argv: list[str], timeout: float, **_: Any) -> None:
    raise subprocess.TimeoutExpired(argv, timeout)


def test_other_failures_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("bug")

    module = types.ModuleType("queueops_test_broken")
    module.OPERATIONS = {"broken": broken}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(KeyError):
        entry.main(module.__name__, {"op": "broken"})


def default(function: Any, name: str = "timeout") -> float:
    value = inspect.signature(function).parameters[name].default
    assert isinstance(value, int | float)
    return value


def test_the_channel_outlasts_the_agent_s_longest_step() -> None:
    # An install may run three package-manager commands (install, refresh, install again).
    assert AGENT_TIMEOUT > 3 * services.INSTALL_TIMEOUT
    for step in (common.run_command, laravel.artisan, laravel.artisan_ok):
        assert default(step) < AGENT_TIMEOUT, step
    for call in (HostSession.run, HostSession.agent, HostSession.call):
        assert default(call) == AGENT_TIMEOUT, call
