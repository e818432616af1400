"""The agent's entry point: one request in, one JSON document out."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from queueops.agent.common import AgentError


def main(module: str, request: dict[str, Any]) -> None:
    """Run `request["op"]` from the OPERATIONS of the host-side `module`; print the answer."""
    operations = importlib.import_module(module).OPERATIONS
    try:
        result = {"ok": True, **operations[request["op"]](request)}
    except AgentError as exc:
        result = {"ok": False, "error": str(exc)}
    sys.stdout.write(json.dumps(result))
