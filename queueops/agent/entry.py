"""The agent's entry point: one request in, one JSON document out.

The request arrives as a Python literal in the program itself, and the answer is written by
the C encoder that json.dumps itself uses: importing the json package imports re and enum
first, which costs a host more than most requests' work (see agent/common.py).
"""

from __future__ import annotations

import sys

from queueops.agent.common import AgentError, timed_out

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _unencodable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encoded(answer: Any, sort_keys: bool = False) -> str:
    """json.dumps(answer, separators=(",", ":"), sort_keys=sort_keys), NaN refused."""
    try:
        import _json

        encode = _json.make_encoder(
            None,
            _unencodable,
            _json.encode_basestring_ascii,
            None,
            ":",
            ",",
            sort_keys,
            False,
            False,
        )
    except (ImportError, AttributeError, TypeError):  # another interpreter than CPython's
        import json

        return json.dumps(answer, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False)
    return "".join(encode(answer, 0))


def main(module: str, request: dict[str, Any]) -> None:
    """Run `request["op"]` from the OPERATIONS of the host-side `module`; print the answer."""
    operations = sys.modules[module].OPERATIONS
    try:
        result = {"ok": True, **operations[request["op"]](request)}
    except AgentError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:
        # A command's timeout is the host's failure, not a traceback. subprocess is imported
        # only by operations that run commands: unloaded, nothing can have timed out.
        subprocess = sys.modules.get("subprocess")
        if subprocess is None or not isinstance(exc, subprocess.TimeoutExpired):
            raise
        result = {"ok": False, "error": timed_out(exc.cmd, exc.timeout)}
    sys.stdout.write(encoded(result))
