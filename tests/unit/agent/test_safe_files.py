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


def test_a_world_writable_directory_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(AgentError, match=f"{shared} is writable by others than its owner"):
        atomic_write(str(shared / "f"), "text")


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
