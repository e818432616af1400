"""Invoke's executor, ending the command as soon as its tasks are done.

When the last task has returned, the command's work is complete. Python would then tear down
the interpreter: it frees every module and every object of the run before the process exits.
For the ~520 modules of a fleet run that costs 60-90 ms, which is longer than a whole host's
share of a no-op `setup-worker` on 20 hosts. So on success this executor flushes what the tasks
printed, runs every atexit handler as Python would, and ends the process with os._exit(0).
That skips only the teardown.

It does not do this when anything could still need the interpreter: a non-daemon thread that
Python would wait for, output that cannot be flushed (a closed pipe: Python reports that and
exits 120), or a program that calls Invoke's Program.run itself and carries on after it. A
failed task never gets here: Invoke prints its message and exits with its code, as before.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import TYPE_CHECKING

from invoke.executor import Executor

if TYPE_CHECKING:
    from typing import Any

    from invoke.parser.context import ParserContext
    from invoke.runners import Result
    from invoke.tasks import Task


class ExitWhenDone(Executor):
    """Invoke's tasks.executor_class for queueops (set in invoke.yaml)."""

    def execute(
        self, *tasks: str | tuple[str, dict[str, Any]] | ParserContext
    ) -> dict[Task[Any], Result]:
        results = super().execute(*tasks)
        if _invoke_is_the_program() and _nothing_left_to_wait_for() and _flushed():
            atexit._run_exitfuncs()
            os._exit(0)
        return results


def _invoke_is_the_program() -> bool:
    """Run as a command line: Invoke's (its `invoke`/`inv` script, `python -m invoke`) in a
    checkout, or queueops' own (`queueops`, `python -m queueops`)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return spec.name in ("invoke.__main__", "queueops.__main__")
    return os.path.basename(getattr(main, "__file__", "")) in ("invoke", "inv", "queueops")


def _nothing_left_to_wait_for() -> bool:
    main = threading.main_thread()
    return all(thread.daemon or thread is main for thread in threading.enumerate())


def _flushed() -> bool:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True
