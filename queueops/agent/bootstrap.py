"""The first lines of every program sent to a host: its modules' sources → sys.modules.

Not imported as a module: transport/assembly.py puts this file's text at the top of the
program, then calls `load`. Each module becomes a module object (with empty packages above
it: the packages' __init__ files are the operator's, not the host's) and runs, in dependency
order.

Compiling the sources costs a host more than most requests' work (8 ms of a facts run's
~28), so the code objects are kept in CODE_CACHE, keyed on the sources' hash (computed at
the operator) and on this exact interpreter: the next run with the same queueops reads them
back with marshal, as Python itself does with __pycache__. The directory is root's only; a
host where it cannot be written (no root, read-only /var) compiles every time and is
otherwise the same. A request never enters the cache: it is compiled with the call.
"""

from __future__ import annotations

import marshal
import os
import sys

# QUEUEOPS_AGENT_CACHE moves it (empty: no cache), for a host whose /var is read-only.
CODE_CACHE = os.environ.get("QUEUEOPS_AGENT_CACHE", "/var/cache/queueops/agent")
# A cache that outgrows this keeps its newest entries: one per queueops version and request
# module, so only upgrades add to it.
CODE_CACHE_ENTRIES = 32

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType


def _cached(path: str, count: int) -> list[CodeType] | None:
    if not CODE_CACHE:
        return None
    try:
        with open(path, "rb") as handle:
            codes = marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return codes if isinstance(codes, list) and len(codes) == count else None


def _store(path: str, codes: list[CodeType]) -> None:
    if not CODE_CACHE:
        return
    try:
        os.makedirs(CODE_CACHE, mode=0o700, exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            marshal.dump(codes, handle)
        os.replace(temp, path)
        entries = sorted(os.scandir(CODE_CACHE), key=lambda e: e.stat().st_mtime, reverse=True)
        for old in entries[CODE_CACHE_ENTRIES:]:
            os.remove(old.path)
    except OSError:
        pass


def code_path(key: str) -> str:
    return os.path.join(CODE_CACHE, f"{key}-{sys.implementation.cache_tag}-{sys.hexversion:x}")


def load(key: str, sources: list[tuple[str, str]]) -> None:
    """Every module of `sources` ((name, source) in dependency order) into sys.modules."""
    path = code_path(key)
    codes = _cached(path, len(sources))
    if codes is None:
        codes = [compile(source, f"<queueops:{name}>", "exec") for name, source in sources]
        _store(path, codes)
    for (name, _), code in zip(sources, codes):  # noqa: B905 - hosts may run Python 3.9
        parts = name.split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            if package not in sys.modules:
                empty = type(sys)(package)
                empty.__path__ = []
                sys.modules[package] = empty
        module = type(sys)(name)
        module.__file__ = f"<queueops:{name}>"
        sys.modules[name] = module
        exec(code, module.__dict__)
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)
