"""What supervisord runs, read in a few lines over its unix socket.

Every run of every task reads this on every host, and a run that changes nothing reads
nothing else: importing xmlrpc.client (http.client, email and configparser below it) costs
more than the call itself. So this module speaks just enough XML-RPC for read-only calls
(HTTP/1.0 POST, the response decoded with expat); the changing calls keep the standard
library's client (agent/supervisor.py).
"""

from __future__ import annotations

# The C module under `socket`: socket.py itself imports enum and selectors, which cost the
# facts more than the whole call (see agent/common.py).
import _socket
import os
from xml.parsers import expat

from queueops.agent.common import AgentError, read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.transport.protocol import ProcessFacts, SupervisorFacts


class RpcFault(AgentError):
    """supervisord answered with an XML-RPC fault."""


def supervisor_socket(main_config: str) -> str | None:
    """`file=` of the [unix_http_server] section (supervisord's own syntax: `;` after a
    space starts a comment)."""
    section = None
    for raw in (read_text(main_config) or "").splitlines():
        line = raw.split(" ;", 1)[0].split("\t;", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == "unix_http_server" and "=" in line:
            key, value = line.split("=", 1)
            if key.strip() == "file":
                return value.strip()
    return None


def decode(payload: bytes) -> Any:
    """The value of an XML-RPC methodResponse (structs, arrays and scalars)."""
    stack: list[Any] = []
    names: list[str] = []
    text: list[str] = []
    result: list[Any] = []
    fault: list[bool] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        text.clear()
        if tag == "struct":
            stack.append({})
        elif tag == "array":
            stack.append([])
        elif tag == "fault":
            fault.append(True)

    def put(value: Any) -> None:
        if not stack:
            result.append(value)
        elif isinstance(stack[-1], dict):
            stack[-1][names.pop()] = value
        else:
            stack[-1].append(value)

    def end(tag: str) -> None:
        content = "".join(text)
        if tag == "name":
            names.append(content)
        elif tag in ("string", "int", "i4", "i8", "boolean", "double"):
            if tag == "string":
                put(content)
            elif tag == "double":
                put(float(content))
            else:
                put(int(content))
        elif tag in ("struct", "array"):
            put(stack.pop())
        text.clear()

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.Parse(payload, True)
    if fault:
        detail = result[0] if result and isinstance(result[0], dict) else {}
        raise RpcFault(str(detail.get("faultString", "XML-RPC fault")))
    return result[0] if result else None


def call(socket_path: str, method: str, timeout: float = 30) -> Any:
    """One read-only call without arguments (supervisor.getAllProcessInfo, getPID, ...)."""
    body = (
        f'<?xml version="1.0"?><methodCall><methodName>{method}</methodName>'
        "<params></params></methodCall>"
    ).encode()
    head = (
        f"POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    status, _, rest = b"".join(chunks).partition(b"\r\n")
    if b" 200 " not in status + b" ":
        raise AgentError(f"supervisord answered {status.decode(errors='replace')!r} to {method}")
    return decode(rest.partition(b"\r\n\r\n")[2])


def installed() -> bool:
    import shutil

    return any(shutil.which(binary) is not None for binary in ("supervisord", "supervisorctl"))


def supervisor_facts(main_configs: list[str]) -> SupervisorFacts:
    """supervisord's processes from the first main config whose socket answers; a running
    supervisord is installed (which() is looked up only when none answers)."""
    for config in main_configs:
        path = supervisor_socket(config) if os.path.exists(config) else None
        if path is None:
            continue
        try:
            infos = call(path, "supervisor.getAllProcessInfo")
        except (OSError, AgentError, expat.ExpatError):
            continue
        processes: list[ProcessFacts] = [
            {
                "group": p["group"],
                "name": p["name"],
                "state": p["statename"],
                "pid": p["pid"],
                "description": p["description"],
            }
            for p in infos
        ]
        return {"installed": True, "running": True, "config": config,
                "processes": processes}  # fmt: skip
    return {"installed": installed(), "running": False, "config": None, "processes": []}
