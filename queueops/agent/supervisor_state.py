"""supervisord's XML-RPC interface over its unix socket, in a few lines, and what it runs.

Every run of every task reads this on every host, and a run that changes nothing reads
nothing else: importing xmlrpc.client (http.client, email and configparser below it) costs
more than the call itself, on every host at once during a fleet-wide pause. So this module
speaks just the XML-RPC supervisord's interface uses: string, integer and boolean arguments,
one HTTP/1.0 POST per call, the response decoded with expat (structs, arrays, scalars).
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
    from collections.abc import Iterable, Mapping
    from typing import Any

    from queueops.protocol import GroupStatus, ProcessFacts, SupervisorFacts

RUNNING = "RUNNING"
# States where a loaded program needs an explicit start.
STOPPED_STATES = ("STOPPED", "EXITED", "FATAL")


def state_of(process: Mapping[str, Any]) -> str:
    """A process's state, from supervisord's own process info (`statename`) or from the
    facts' record of it (`state`)."""
    return str(process["statename"] if "statename" in process else process["state"])


def group_status(
    processes: Iterable[Mapping[str, Any]], expected: Mapping[str, int]
) -> dict[str, GroupStatus]:
    """Each expected program (supervisor group) against its expected process count: how many
    processes supervisord has of it and how many run. Every task, check and figure that asks
    "does this program run as it should" asks it here."""
    found: dict[str, list[str]] = {name: [] for name in expected}
    for process in processes:
        if process["group"] in found:
            found[process["group"]].append(state_of(process))
    return {
        name: {
            "expected": count,
            "processes": len(found[name]),
            "running": sum(1 for s in found[name] if s == RUNNING),
            "states": found[name],
            "ok": len(found[name]) == count and all(s == RUNNING for s in found[name]),
            "stopped": bool(found[name]) and all(s in STOPPED_STATES for s in found[name]),
        }
        for name, count in expected.items()
    }


class RpcFault(AgentError):
    """supervisord answered with an XML-RPC fault; str() is its faultString."""


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

    # Per open <value>: whether a typed child (<string>, <struct>, ...) gave its value; an
    # untyped <value>text</value> is a string.
    typed: list[bool] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        text.clear()
        if tag == "value":
            typed.append(False)
        elif typed:
            typed[-1] = True
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
        elif tag == "nil":
            put(None)
        elif tag in ("struct", "array"):
            put(stack.pop())
        elif tag == "value" and not typed.pop():
            put(content)
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


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def encode_param(value: object) -> str:
    if isinstance(value, bool):
        return f"<boolean>{int(value)}</boolean>"
    if isinstance(value, int):
        return f"<int>{value}</int>"
    if isinstance(value, str):
        return f"<string>{_escaped(value)}</string>"
    raise TypeError(f"supervisord's interface takes no {type(value).__name__} argument")


def call(socket_path: str, method: str, *params: object, timeout: float = 30) -> Any:
    """supervisord's answer to one call (supervisor.getAllProcessInfo, stopProcessGroup, ...);
    RpcFault for a fault, AgentError for an answer that is not XML-RPC, OSError for the socket."""
    encoded = "".join(f"<param><value>{encode_param(v)}</value></param>" for v in params)
    body = (
        f'<?xml version="1.0"?><methodCall><methodName>{_escaped(method)}</methodName>'
        f"<params>{encoded}</params></methodCall>"
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
    try:
        return decode(rest.partition(b"\r\n\r\n")[2])
    except expat.ExpatError as exc:
        raise AgentError(f"supervisord's answer to {method} is not XML-RPC: {exc}") from None


class SupervisorRpc:
    """`rpc.supervisor.stopProcessGroup("web", False)`, as with xmlrpc.client's ServerProxy."""

    def __init__(self, socket_path: str, namespace: str = "") -> None:
        self.socket_path = socket_path
        self.namespace = namespace

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if not self.namespace:
            return SupervisorRpc(self.socket_path, name)
        method = f"{self.namespace}.{name}"
        return lambda *params: call(self.socket_path, method, *params)


def installed() -> bool:
    import shutil

    return any(shutil.which(binary) is not None for binary in ("supervisord", "supervisorctl"))


def answering(main_configs: list[str]) -> tuple[str, list[dict[str, Any]]] | None:
    """The first main config whose supervisord answers on its socket, and its processes."""
    for config in main_configs:
        path = supervisor_socket(config) if os.path.exists(config) else None
        if path is None:
            continue
        try:
            return config, call(path, "supervisor.getAllProcessInfo")
        except (OSError, AgentError):
            continue
    return None


def supervisor_facts(main_configs: list[str]) -> SupervisorFacts:
    """supervisord's processes from the first main config whose socket answers; a running
    supervisord is installed (which() is looked up only when none answers)."""
    found = answering(main_configs)
    if found is None:
        return {"installed": installed(), "running": False, "config": None, "processes": []}
    config, infos = found
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
    return {"installed": True, "running": True, "config": config, "processes": processes}
