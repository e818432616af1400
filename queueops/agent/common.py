"""What every host-side module shares: the error reported as the host's, and small file reads.

Every run of every task sends this module and runs its facts on every host, so it imports
only modules that are already loaded or built into the interpreter: on a host's
`python3 -I -S` each of typing, json, re, socket, hashlib or subprocess costs milliseconds of
that host's CPU per run, more than reading the host itself. Type-only imports go under
TYPE_CHECKING (never true on a host) and heavier modules are imported where they are used.
"""

from __future__ import annotations

from queueops.agent.safe_files import UnsafePath, write_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from queueops.protocol import FileInfo

    # A host operation: its request in, its answer (a TypedDict of its protocol) out.
    Operation = Callable[[Any], Mapping[str, Any]]

MANAGED_MARKER = "Managed by queueops"


class AgentError(Exception):
    """A failure to report to the operator as this host's error."""


def _builtin_sha256() -> Any:
    # CPython's own sha256 (_sha256 up to 3.11, _sha2 from 3.12) imports in microseconds;
    # hashlib loads OpenSSL first. Builds without it (FIPS) fall back to hashlib.
    for name in ("_sha2", "_sha256"):
        try:
            return __import__(name).sha256
        except ImportError:
            continue
    import hashlib

    return hashlib.sha256


sha256 = _builtin_sha256()


def sha256_file(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return str(sha256(handle.read()).hexdigest())
    except FileNotFoundError:
        return None


def file_info(path: str) -> FileInfo | None:
    """Hash, header line and text of a file queueops may manage (they are small)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    text = data.decode(errors="replace")
    return {
        "sha256": sha256(data).hexdigest(),
        "header": text.split("\n", 1)[0],
        "content": text,
    }


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def timed_out(argv: str | list[str], seconds: float) -> str:
    """The host's error for a command cut off by its timeout (its text capped: `php -r` carries
    a whole script)."""
    text = argv if isinstance(argv, str) else " ".join(argv)
    text = text if len(text) <= 200 else text[:200] + "…"
    return f"{text} did not finish within {seconds:g} s"


def run_command(argv: list[str], timeout: float = 600) -> None:
    import subprocess

    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AgentError(timed_out(argv, timeout)) from None
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-600:]
        raise AgentError(f"{' '.join(argv)} exited {result.returncode}: {tail}")


def atomic_write(path: str, content: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` as agent/safe_files.write_file does: never through a link, directories
    made where missing in root's own."""
    data = content.encode() if isinstance(content, str) else content
    try:
        write_file(path, data, mode, create=0o755)
    except UnsafePath as exc:
        raise AgentError(str(exc)) from None
