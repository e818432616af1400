"""Where the files queueops renders and reads live: templates/ and roles/ at the top of a
checkout (their one source), or inside the package, under queueops/_share/, where a wheel
installed them (setup.py puts them there)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shared(name: str) -> Path:
    installed = PACKAGE / "_share" / name
    return installed if installed.is_dir() else PACKAGE.parent / name


TEMPLATES_DIR = shared("templates")
# Every role's defaults/main.yml: the lowest layer of every inventory.
ROLES_DIR = shared("roles")
