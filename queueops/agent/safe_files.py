"""Root's reads and writes of files in directories another user may change while it works.

The app's directory and its config/ belong to the deploy or web user, who can plant a link or
swap a directory at any moment. So every path is walked from `/` one directory at a time
through open directory descriptors, a link is never followed at a file's own name unless the
caller asks, and a file is written as a new file beside its target (0600, random name,
O_EXCL|O_NOFOLLOW), given its owner and mode on the descriptor, then renamed over the target
within the same open directory.

The rule of the walk: a directory entry cannot send root anywhere (no one but root can move
a directory of root's into their own), a link can. A link is followed in a directory of
root's alone or of one other user (the app's); never in one of root's that others can write
without the sticky bit, and in a sticky one (/tmp) only root's own, as the kernel's
protected_symlinks does.
Once the walk has followed a link another user controls, the directory it ends in must be
that user's: a link the app's user planted leads nowhere but back into their own files.

A leaf module: the standard library only, so agent/common.py can build on it.
"""

from __future__ import annotations

import os
import stat

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40


class UnsafePath(OSError):
    """A path queueops will not write through; the message names it and says why."""


class Directory:
    """An open directory reached by the walk: its descriptor, its real path, and the user
    other than root who owns it (None: root's)."""

    def __init__(self, fd: int, path: str, user: int | None) -> None:
        self.fd, self.path, self.user = fd, path, user

    def join(self, name: str) -> str:
        return os.path.join(self.path, name)

    def close(self) -> None:
        os.close(self.fd)


def _ours(uid: int) -> bool:
    return uid in (0, os.geteuid())


def link_controller(directory: os.stat_result, link: os.stat_result, path: str) -> int | None:
    """Who could have put the link at `path` there (None: root alone); refused where anyone
    could have."""
    if not _ours(directory.st_uid):
        if directory.st_mode & 0o002:
            raise UnsafePath(f"{path} is a link in a directory everyone can write")
        return directory.st_uid
    if directory.st_mode & 0o022:
        if not directory.st_mode & stat.S_ISVTX:
            raise UnsafePath(f"{path} is a link in a directory others than root can write")
        if not _ours(link.st_uid):
            raise UnsafePath(f"{path} is another user's link in a shared directory")
    return None if _ours(link.st_uid) else link.st_uid


def open_directory(path: str, create: int | None = None, taint: int | None = None) -> Directory:
    """Directory `path`, walked as the module says; `create`: the mode of directories to make
    where they are missing (only in root's own); `taint`: the user whose link the walk already
    followed (a `.env` link's target is walked on from there)."""
    if not path.startswith("/"):
        raise UnsafePath(f"{path} is not an absolute path")
    todo = path.split("/")[::-1]
    fds = [os.open("/", DIRECTORY)]
    names: list[str] = []
    links = 0
    try:
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if names:
                    os.close(fds.pop())
                    names.pop()
                continue
            here = "/" + "/".join([*names, name])
            try:
                st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                if create is None or not _ours(os.fstat(fds[-1]).st_uid):
                    raise
                try:
                    os.mkdir(name, create, dir_fd=fds[-1])
                except FileExistsError:  # made meanwhile: walked like any other
                    todo.append(name)
                    continue
                todo.append(name)
                continue
            if stat.S_ISLNK(st.st_mode):
                controller = link_controller(os.fstat(fds[-1]), st, here)
                if controller is not None:
                    if taint is not None and controller != taint:
                        raise UnsafePath(f"{here}: a link of uid {controller} after uid {taint}'s")
                    taint = controller
                links += 1
                if links > MAX_LINKS:
                    raise UnsafePath(f"{path}: more than {MAX_LINKS} links on the way")
                target = os.readlink(name, dir_fd=fds[-1])
                if target.startswith("/"):
                    for fd in fds[1:]:
                        os.close(fd)
                    del fds[1:]
                    names.clear()
                todo.extend(target.split("/")[::-1])
                continue
            # O_NOFOLLOW: a link swapped in since the stat fails here (ELOOP).
            fds.append(os.open(name, DIRECTORY, dir_fd=fds[-1]))
            names.append(name)
        real = "/" + "/".join(names)
        st = os.fstat(fds[-1])
        if taint is not None and st.st_uid != taint:
            raise UnsafePath(
                f"{real} belongs to uid {st.st_uid}, but a link of uid {taint} led there"
            )
        if not _ours(st.st_uid) and st.st_mode & 0o002:
            raise UnsafePath(f"{real} is writable by everyone")
        return Directory(fds.pop(), real, None if _ours(st.st_uid) else st.st_uid)
    finally:
        for fd in fds:
            os.close(fd)


def own_directory(path: str) -> tuple[os.stat_result, str]:
    """`path` as a directory of root's for what root alone keeps (made 0700 where missing):
    its status, and why it is not one ("" when it is): a link, not a directory, or another
    user's, who could swap what root keeps there. The caller decides what its mode must be."""
    try:  # noqa: SIM105 (contextlib would cost every run's facts its import)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)
    if stat.S_ISLNK(found.st_mode):
        return found, "a symlink"
    if not stat.S_ISDIR(found.st_mode):
        return found, "not a directory"
    if not _ours(found.st_uid):
        return found, f"owned by uid {found.st_uid}"
    return found, ""


def _entry(directory: Directory, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=directory.fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def place(path: str, follow_link: bool = False, create: int | None = None) -> tuple[Directory, str]:
    """The open directory of `path` (the caller closes it) and the file's name in it.

    follow_link: a link at the file's own name (a Deployer/Envoyer `.env -> shared/.env`) is
    followed, only to a file that belongs, like the directory it is in, to the owner of the
    directory holding the link; the link itself stays."""
    directory = open_directory(os.path.dirname(path), create)
    name = os.path.basename(path)
    try:
        for _ in range(MAX_LINKS):
            st = _entry(directory, name) if follow_link else None
            if st is None or not stat.S_ISLNK(st.st_mode):
                break
            target = os.readlink(name, dir_fd=directory.fd)
            full = os.path.join(directory.path, target)
            owner = os.fstat(directory.fd).st_uid
            refused = (
                f"{path} is a link to {os.path.normpath(full)}, which is not the app's own: "
                f"it and its directory must belong to uid {owner}, who owns the link's directory"
            )
            try:
                controller = link_controller(os.fstat(directory.fd), st, directory.join(name))
                then = open_directory(os.path.dirname(full), None, controller)
            except UnsafePath as exc:
                raise UnsafePath(f"{refused} ({exc}); nothing was written") from None
            directory.close()
            directory, name = then, os.path.basename(full)
            found = _entry(directory, name)
            mine = os.fstat(directory.fd).st_uid == owner
            if not mine or (found is not None and found.st_uid != owner):
                raise UnsafePath(f"{refused}; nothing was written")
        else:
            raise UnsafePath(f"{path}: more than {MAX_LINKS} links")
        if not name or name in (".", ".."):
            raise UnsafePath(f"{path} does not name a file")
    except BaseException:
        directory.close()
        raise
    return directory, name


def read_file(path: str, follow_link: bool = False) -> tuple[bytes, os.stat_result] | None:
    """The file's bytes and status (None: absent); a link at its name is refused unless
    follow_link (see place), as is anything but a regular file with one name where another
    user could have hard-linked a file they cannot read."""
    directory, name = place(path, follow_link)
    try:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=directory.fd,
            )  # fmt: skip
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UnsafePath(f"cannot open {directory.join(name)}: {exc.strerror}") from None
        with open(fd, "rb") as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePath(f"{directory.join(name)} is not a regular file")
            if directory.user is not None and st.st_nlink != 1:
                raise UnsafePath(f"{directory.join(name)} has {st.st_nlink} hard links")
            return handle.read(), st
    finally:
        directory.close()


def write_file(
    path: str,
    data: bytes,
    mode: int,
    owner: tuple[int, int] | None = None,
    follow_link: bool = False,
    create: int | None = None,
) -> None:
    """Replace (or create) the file at `path` with `data`, atomically; `create`: the mode of
    missing directories to make on the way (in root's own only)."""
    directory, name = place(path, follow_link, create)
    try:
        temp = f".{name}.{os.urandom(8).hex()}.queueops-tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600, dir_fd=directory.fd)
        try:
            with open(fd, "wb", closefd=False) as handle:
                handle.write(data)
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            os.fsync(fd)
            os.replace(temp, name, src_dir_fd=directory.fd, dst_dir_fd=directory.fd)
        except BaseException:
            _discard(temp, directory.fd)
            raise
        finally:
            os.close(fd)
    finally:
        directory.close()


def _discard(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:  # already gone; the error that brought us here is the one to report
        return


def remove_file(path: str) -> bool:
    """Remove the name `path` (a link itself, never its target); False when absent."""
    directory, name = place(path)
    try:
        os.unlink(name, dir_fd=directory.fd)
    except FileNotFoundError:
        return False
    finally:
        directory.close()
    return True
