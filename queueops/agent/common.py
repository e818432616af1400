"""What every host-side module shares: the error reported as the host's, and small file reads."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from typing import Any

from queueops.transport.protocol import FileInfo

MANAGED_MARKER = "Managed by queueops"

Operation = Callable[[Any], dict[str, Any]]


class AgentError(Exception):
    """A failure to report to the operator as this host's error."""


def sha256_file(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
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
        "sha256": hashlib.sha256(data).hexdigest(),
        "header": text.split("\n", 1)[0],
        "content": text,
    }


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def run_command(argv: list[str], timeout: float = 600) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-600:]
        raise AgentError(f"{' '.join(argv)} exited {result.returncode}: {tail}")


def atomic_write(path: str, content: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.queueops-tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)
