"""The executor that ends a successful command without tearing the interpreter down."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
TASKS = textwrap.dedent(
    """\
    import atexit
    import os
    import threading
    import time

    from invoke import Exit, task


    class Teardown:
        # A module global is freed when Python tears the interpreter down, not before, when
        # builtins such as open() may be gone already.
        def __del__(self, _open=os.open, _close=os.close, _flags=os.O_CREAT | os.O_WRONLY):
            _close(_open("torn-down", _flags))


    KEPT = Teardown()


    @task
    def ok(c):
        atexit.register(lambda: open("atexit-ran", "w").close())
        for _ in range(2000):  # more than a pipe holds, and the end is still buffered
            print("x" * 99)


    @task
    def fails(c):
        raise Exit("it failed", code=3)


    @task
    def leaves_a_thread(c):
        def later():
            time.sleep(0.3)
            open("thread-finished", "w").close()

        threading.Thread(target=later).start()
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tasks.py").write_text(TASKS)
    (tmp_path / "invoke.yaml").write_text(
        yaml.safe_dump({"tasks": {"executor_class": "queueops.cli.executor.ExitWhenDone"}})
    )
    return tmp_path


def invoke(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        # Buffered as an operator's output is: the end of it is written only when flushed.
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    )


def test_a_successful_command_skips_the_teardown_but_keeps_its_output_and_atexit(
    project: Path,
) -> None:
    result = invoke(project, "ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("x" * 99 + "\n") * 2000
    assert (project / "atexit-ran").exists()
    assert not (project / "torn-down").exists()


def test_a_failed_command_exits_as_invoke_does(project: Path) -> None:
    result = invoke(project, "fails")
    assert (result.returncode, result.stderr.strip()) == (3, "it failed")
    assert (project / "torn-down").exists()


def test_a_thread_python_would_wait_for_is_waited_for(project: Path) -> None:
    result = invoke(project, "leaves-a-thread")
    assert result.returncode == 0, result.stderr
    assert (project / "thread-finished").exists()
    assert (project / "torn-down").exists()


def test_this_repository_runs_its_tasks_with_it() -> None:
    config = yaml.safe_load((REPO / "invoke.yaml").read_text())
    assert config["tasks"]["executor_class"] == "queueops.cli.executor.ExitWhenDone"


def test_a_program_that_runs_invoke_itself_carries_on_after_it(project: Path) -> None:
    caller = (
        "import sys\n"
        "from invoke.main import program\n"
        "sys.argv = ['invoke', 'ok']  # named like Invoke's script, still not it\n"
        "program.run(exit=False)\n"
        "print('carried on')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", caller], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("carried on\n")
