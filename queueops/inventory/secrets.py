"""Secrets of the inventory are never shown: values decrypted from Ansible Vault, and the values
of password variables (however they were written: plainly, as a lookup, from vault).

The loader remembers each one for the process; every task's output (stdout, stderr, the
message of an error, --json) goes through mask_text, and `invoke inventory` masks whole values
that hold one. Registering them once for the process, as Ansible registers no_log values,
means no code path that prints has to know which values were secret.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

MASK = "********"
# Shorter values are not masked: "no", "ops" or "1" would be replaced in every word and
# JSON key of the output, and no secret worth the name is that short.
SHORTEST = 4

_known: set[str] = set()
# Longest first, so a secret that contains another is masked whole.
_ordered: list[str] = []


def remember(values: Iterable[str]) -> None:
    new = {v for v in values if len(v) >= SHORTEST} - _known
    if new:
        _known.update(new)
        _ordered[:] = sorted(_known, key=len, reverse=True)


def mask_text(text: str) -> str:
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def masked(value: Any) -> Any:
    """A JSON-like value with every string that holds a secret replaced by MASK."""
    if isinstance(value, str):
        return MASK if any(secret in value for secret in _ordered) else value
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


class _Masking:
    """A text stream that masks secrets in what is written through it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask_text(text) if _ordered else text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def masked_output() -> Iterator[None]:
    """stdout and stderr mask every remembered secret while the block runs."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Masking(out), _Masking(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
