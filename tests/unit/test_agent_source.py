"""The program sent to hosts: agent.py plus every agent part, runnable on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from queueops import agent
from queueops.remote import PART_MARKER, PART_OF_OP, PARTS, agent_source


def test_assembled_agent_runs_standalone_and_registers_every_part() -> None:
    namespace: dict[str, Any] = {"__name__": "queueops_agent"}
    exec(compile(agent_source(), "queueops-agent", "exec"), namespace)
    assert set(agent.OPERATIONS) <= set(namespace["OPERATIONS"])
    assert callable(namespace["main"])


def test_parts_import_nothing_but_the_standard_library_on_the_host_side() -> None:
    for part in sorted(Path(agent.__file__).parent.glob("agent_*.py")):
        sent = part.read_text().split(PART_MARKER, 1)[1]
        assert "from queueops" not in sent and "import queueops" not in sent, part.name


def test_each_operation_is_sent_with_just_the_part_that_registers_it() -> None:
    for op, part in PART_OF_OP.items():
        namespace: dict[str, Any] = {"__name__": "queueops_agent"}
        exec(compile(agent_source(op), f"agent+{part}", "exec"), namespace)
        assert op in namespace["OPERATIONS"], (op, part)
        others = [text for name, text in PARTS.items() if name != part]
        assert all(text not in agent_source(op) for text in others if text.strip())
    assert agent_source("facts") == Path(agent.__file__).read_text()
