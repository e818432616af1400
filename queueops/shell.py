"""The one place where values become remote shell text.

Every command sent to a host is built from `cmd()` (argv → quoted string) or `quote()`;
nothing concatenates raw values into a shell line anywhere else.
"""

from __future__ import annotations

import re
import shlex

# Names that end up in file names, supervisor sections and artisan arguments.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._:-]+$")


def quote(value: str | int) -> str:
    """Quote one value for a POSIX shell (newlines survive inside quotes; NUL cannot)."""
    text = str(value)
    if "\0" in text:
        raise ValueError("a NUL byte cannot be passed to a remote shell")
    return shlex.quote(text)


def cmd(*argv: str | int) -> str:
    """Join an argv into one safely quoted shell command."""
    return " ".join(quote(arg) for arg in argv)


def is_safe_name(value: str) -> bool:
    return bool(NAME_PATTERN.fullmatch(value))
