"""Root's writes that a planted link cannot redirect, and the backups they leave; the lab's
tests/integration/test_host_files.py proves the same against the app's own user."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from queueops.agent import safe_files, transaction
from queueops.agent.common import AgentError, atomic_write


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_rollback_replaces_a_link_planted_at_the_target_and_leaves_its_target_alone(
    tmp_path: Path,
) -> None:
    path, outside = tmp_path / "app.conf", tmp_path / "outside"
    path.write_text("before\n")
    outside.write_text("not queueops'\n")
    change = {"path": str(path), "before": sha("before\n"), "after": "after\n"}
    written = transaction.write_changes([change], str(tmp_path / "backups" / "run"))
    path.unlink()
    path.symlink_to(outside)
    transaction.restore_changes(written)
    assert not path.is_symlink() and path.read_text() == "before\n"
    assert outside.read_text() == "not queueops'\n"


def test_temp_files_are_0600_under_unpredictable_names_and_removed_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    real_fchmod = os.fchmod

    def fchmod(fd: int, mode: int) -> None:
        name = [n for n in os.listdir(tmp_path) if n.endswith(".queueops-tmp")]
        seen.append((name[0], os.fstat(fd).st_mode & 0o777))
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fchmod", fchmod)
    for _ in range(2):
        with pytest.raises(OSError, match="disk on fire"):
            safe_files.write_file(str(tmp_path / "x.conf"), b"x", 0o644)
    monkeypatch.setattr(os, "fchmod", real_fchmod)
    assert [mode for _, mode in seen] == [0o600, 0o600]
    assert seen[0][0] != seen[1][0] and seen[0][0].startswith(".x.conf.")
    assert os.listdir(tmp_path) == []


def test_a_link_in_place_of_a_directory_is_walked_and_the_file_named_is_replaced(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to("real")
    atomic_write(str(tmp_path / "via" / "f"), "text")
    assert (tmp_path / "real" / "f").read_text() == "text"
    (tmp_path / "real" / "g").symlink_to(tmp_path / "outside")
    atomic_write(str(tmp_path / "via" / "g"), "text")
    assert not (tmp_path / "outside").exists() and not (tmp_path / "real" / "g").is_symlink()


def test_in_a_directory_others_can_write_only_root_s_own_links_are_followed(
    tmp_path: Path,
) -> None:
    """As in /tmp: another user's link there is refused, root's own is followed. (The test
    hands a link to another uid: it runs as root, like the lab's.)"""
    shared, real = tmp_path / "shared", tmp_path / "real"
    shared.mkdir()
    real.mkdir()
    os.chmod(shared, 0o1777)
    (shared / "ours").symlink_to(real)
    atomic_write(str(shared / "ours" / "f"), "text")
    assert (real / "f").read_text() == "text"
    (shared / "theirs").symlink_to(real)
    os.lchown(shared / "theirs", 4242, 4242)
    with pytest.raises(AgentError, match=f"{shared}/theirs is another user's link"):
        atomic_write(str(shared / "theirs" / "g"), "text")
    assert not (real / "g").exists()
    # A directory of another user that everyone can write is no one's in particular.
    (real / "open").mkdir()
    os.chown(real / "open", 4242, 4242)
    os.chmod(real / "open", 0o777)
    with pytest.raises(AgentError, match=f"{real}/open is writable by everyone"):
        atomic_write(str(real / "open" / "h"), "text")


def test_backups_are_root_only_and_the_last_n_of_each_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "app" / ".env"
    path.parent.mkdir()
    root = tmp_path / "backups"
    for run in range(4):
        path.write_text(f"v{run}\n")
        change = {"path": str(path), "before": sha(f"v{run}\n"), "after": f"v{run + 1}\n"}
        transaction.write_changes([change], f"{root}/2026010{run}T000000-fallback", keep=2)
    assert os.stat(root).st_mode & 0o777 == 0o700
    left = sorted(p.relative_to(root) for p in root.rglob(".env"))
    assert [str(p).split("/")[0] for p in left] == ["20260102T000000-fallback",
                                                    "20260103T000000-fallback"]  # fmt: skip
    assert all(os.stat(root / p).st_mode & 0o777 == 0o600 for p in left)
    assert (root / left[0]).read_text() == "v2\n"
    # The runs whose only backup went are gone with their directories.
    assert sorted(os.listdir(root)) == [str(p).split("/")[0] for p in left]


def test_past_another_user_s_directory_only_that_user_s_directories_are_written(
    tmp_path: Path,
) -> None:
    """The app's directory belongs to uid 4242: its links lead back into its own files only."""
    app, shared, etc = tmp_path / "app", tmp_path / "shared", tmp_path / "etc"
    for directory in (app, shared, etc):
        directory.mkdir()
    (etc / "passwd").write_text("root's\n")
    (shared / ".env").write_text("A=1\n")
    (app / "config").symlink_to(etc)
    (app / ".env").symlink_to("../shared/.env")
    (app / "other.env").symlink_to(etc / "passwd")
    for path in (app, shared, shared / ".env", app / "config", app / ".env", app / "other.env"):
        os.lchown(path, 4242, 4242)

    with pytest.raises(AgentError, match=f"{etc} belongs to uid 0, but a link of uid 4242"):
        atomic_write(str(app / "config" / "passwd"), "pwned")
    # A directory of root's in it, reached without a link, is root's to write in (Debian's
    # /var/lib/prometheus/node-exporter in the prometheus user's /var/lib/prometheus).
    (app / "roots").mkdir()
    atomic_write(str(app / "roots" / "f"), "text")
    assert (app / "roots" / "f").read_text() == "text"
    safe_files.write_file(str(app / ".env"), b"A=2\n", 0o640, (4242, 4242), follow_link=True)
    assert (app / ".env").is_symlink() and (shared / ".env").read_text() == "A=2\n"
    assert os.stat(shared / ".env").st_uid == 4242
    with pytest.raises(safe_files.UnsafePath, match=f"{app}/other.env is a link to {etc}/passwd"):
        safe_files.write_file(str(app / "other.env"), b"x", 0o644, follow_link=True)
    assert (etc / "passwd").read_text() == "root's\n"
