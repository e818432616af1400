"""What every task shares at the command line: operator errors become one line and an exit code,
secrets are masked."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from invoke.exceptions import Exit

from queueops.errors import QueueopsError
from queueops.inventory.secrets import mask_text, masked_output

P = ParamSpec("P")
R = TypeVar("R")


def operator_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a QueueopsError into Invoke's Exit: the message, its exit code, no traceback.
    Whatever the task prints, and its message, has the inventory's secrets masked."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with masked_output():
                return func(*args, **kwargs)
        except QueueopsError as exc:
            raise Exit(mask_text(f"queueops: {exc}"), code=exc.exit_code) from None

    return wrapper
