"""The host's file transaction on a temporary directory, with a fake supervisord: the lock,
preconditions, backups, atomic writes, all-or-nothing on failure, and the rollback."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from queueops.agent import hostlock, transaction
from queueops.agent.common import AgentError


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(autouse=True)
def lock_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run" / "queueops.lock"
    monkeypatch.setattr(hostlock, "LOCK_PATH", str(path))
    return path


HOLDER = {"task": "setup-worker", "operator": "alice", "since": "2026-01-22T10:15:00Z"}


def test_the_lock_names_its_holder_and_refuses_a_second_run(lock_path: Path) -> None:
    with hostlock.HostLock(HOLDER):
        assert hostlock.lock_holder() == {**HOLDER, "pid": os.getpid()}
        # Another run: a second open file description of the same lock file.
        with pytest.raises(AgentError) as caught, hostlock.HostLock({**HOLDER, "task": "b"}):
            pass
    message = str(caught.value)
    assert "locked by another queueops run: setup-worker by alice" in message
    assert f"pid {os.getpid()}" in message and "since 2026-01-22T10:15:00Z" in message
    # Released and emptied when the run ends.
    assert hostlock.lock_holder() is None
    assert lock_path.read_text() == ""


def test_a_lock_held_by_another_process_is_seen_without_taking_it(lock_path: Path) -> None:
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write("not json")
        handle.flush()
        assert hostlock.lock_holder() == {"task": "unknown", "raw": "not json"}


def test_require_unchanged_compares_with_what_the_plan_saw(tmp_path: Path) -> None:
    path = tmp_path / "a.conf"
    transaction.require_unchanged(str(path), None)
    path.write_text("one")
    transaction.require_unchanged(str(path), sha("one"))
    with pytest.raises(AgentError, match="changed since the plan was made"):
        transaction.require_unchanged(str(path), sha("other"))
    with pytest.raises(AgentError, match="changed since the plan was made"):
        transaction.require_unchanged(str(path), None)


def changes_in(tmp_path: Path) -> tuple[Path, Path, Path, list[dict[str, Any]]]:
    kept, replaced, removed = tmp_path / "new.conf", tmp_path / "old.conf", tmp_path / "gone.conf"
    replaced.write_text("before\n")
    os.chmod(replaced, 0o640)
    removed.write_text("bye\n")
    changes: list[dict[str, Any]] = [
        {"path": str(kept), "before": None, "after": "created\n"},
        {"path": str(replaced), "before": sha("before\n"), "after": "after\n"},
        {"path": str(removed), "before": sha("bye\n"), "after": None},
    ]
    return kept, replaced, removed, changes


def test_write_changes_backs_up_writes_atomically_and_keeps_modes(tmp_path: Path) -> None:
    kept, replaced, removed, changes = changes_in(tmp_path)
    backups = tmp_path / "backups"
    written = transaction.write_changes(changes, str(backups))
    assert kept.read_text() == "created\n" and os.stat(kept).st_mode & 0o777 == 0o644
    assert replaced.read_text() == "after\n" and os.stat(replaced).st_mode & 0o777 == 0o640
    assert not removed.exists()
    assert (Path(str(backups) + str(replaced))).read_text() == "before\n"
    assert (Path(str(backups) + str(removed))).read_text() == "bye\n"
    assert not list(tmp_path.glob(".*.queueops-tmp"))
    transaction.restore_changes(written)
    assert not kept.exists()
    assert replaced.read_text() == "before\n" and removed.read_text() == "bye\n"


def test_a_failed_write_leaves_every_file_as_it_was(tmp_path: Path) -> None:
    kept, replaced, removed, changes = changes_in(tmp_path)
    # The last change cannot be written: its directory is a file.
    (tmp_path / "blocker").write_text("")
    changes.append({"path": str(tmp_path / "blocker" / "x.conf"), "before": None, "after": "x"})
    with pytest.raises(OSError):
        transaction.write_changes(changes, str(tmp_path / "backups"))
    assert not kept.exists()
    assert replaced.read_text() == "before\n" and removed.read_text() == "bye\n"


class FakeSupervisor:
    """supervisord's XML-RPC as the rollback uses it: reload, stop/remove/add, process info."""

    def __init__(self, programs: dict[str, int], files: Path) -> None:
        self.running = dict(programs)
        self.files = files
        self.calls: list[tuple[str, str]] = []

    def reloadConfig(self) -> list[list[list[str]]]:
        on_disk = {p.stem for p in self.files.glob("*.conf")}
        added = sorted(on_disk - set(self.running))
        removed = sorted(set(self.running) - on_disk)
        return [[added, [], removed]]

    def stopProcessGroup(self, name: str) -> None:
        self.calls.append(("stop", name))

    def removeProcessGroup(self, name: str) -> None:
        self.calls.append(("remove", name))
        self.running.pop(name)

    def addProcessGroup(self, name: str) -> None:
        self.calls.append(("add", name))
        self.running[name] = 2

    def getAllProcessInfo(self) -> list[dict[str, Any]]:
        return [
            {"group": g, "name": f"{g}_{i}", "statename": "RUNNING", "pid": 100 + i}
            for g, count in self.running.items()
            for i in range(count)
        ]


class FakeProxy:
    def __init__(self, supervisor: FakeSupervisor) -> None:
        self.supervisor = supervisor


def test_rollback_restores_the_files_and_reloads_only_the_managed_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "mail.conf").write_text("old mail\n")
    (conf / "other.conf").write_text("someone else's\n")
    fake = FakeSupervisor({"mail": 2, "other": 1}, conf)
    monkeypatch.setattr(transaction, "supervisor_proxy", lambda config: FakeProxy(fake))
    changes: list[dict[str, Any]] = [
        {"path": str(conf / "mail.conf"), "before": sha("old mail\n"), "after": None},
        {"path": str(conf / "fresh.conf"), "before": None, "after": "new\n"},
    ]
    written = transaction.write_changes(changes, str(tmp_path / "backups"))
    # What the failed apply had loaded: fresh added, mail removed.
    fake.running = {"fresh": 2, "other": 1}
    note = transaction.rollback_programs(written, "sup.conf", {"mail", "fresh"}, {"mail": 2}, 1)
    assert note == "rolled back: previous files restored and their programs RUNNING"
    assert (conf / "mail.conf").read_text() == "old mail\n"
    assert not (conf / "fresh.conf").exists()
    assert fake.running == {"other": 1, "mail": 2}
    assert ("add", "mail") in fake.calls and ("remove", "fresh") in fake.calls
    assert all(name != "other" for _, name in fake.calls)


def test_rollback_says_when_the_previous_programs_do_not_come_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf.d"
    conf.mkdir()
    fake = FakeSupervisor({}, conf)
    monkeypatch.setattr(transaction, "supervisor_proxy", lambda config: FakeProxy(fake))
    written = transaction.write_changes(
        [{"path": str(conf / "mail.conf"), "before": None, "after": "x\n"}], str(tmp_path / "b")
    )
    note = transaction.rollback_programs(written, "sup.conf", {"mail"}, {"mail": 2}, 0.2)
    assert note.startswith("files rolled back; previous programs not all RUNNING: mail:")
    assert transaction.rollback_programs([], "sup.conf", set(), {}, 0) == "nothing had been written"


def test_the_lock_is_root_s_alone_in_a_private_directory(lock_path: Path) -> None:
    lock_path.parent.mkdir(mode=0o755)
    with hostlock.HostLock(HOLDER):
        pass
    assert lock_path.parent.stat().st_mode & 0o777 == 0o700  # a looser directory repaired
    assert lock_path.stat().st_mode & 0o777 == 0o600


def test_a_symlink_in_place_of_the_lock_is_never_followed(lock_path: Path, tmp_path: Path) -> None:
    lock_path.parent.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    lock_path.symlink_to(victim)
    with pytest.raises(AgentError, match="cannot open the host lock"), hostlock.HostLock(HOLDER):
        pass
    assert hostlock.lock_holder() is None
    assert not victim.exists()


@pytest.mark.parametrize("planted", ["symlink", "file", "other owner"])
def test_a_lock_directory_someone_else_could_change_is_refused(
    lock_path: Path, tmp_path: Path, planted: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if planted == "symlink":
        lock_path.parent.symlink_to(elsewhere)
    elif planted == "file":
        lock_path.parent.write_text("")
    else:
        lock_path.parent.mkdir(mode=0o700)
        os.chown(lock_path.parent, 65534, 65534)
    with pytest.raises(AgentError, match="where the host lock belongs"), hostlock.HostLock(HOLDER):
        pass
    assert list(elsewhere.iterdir()) == []
