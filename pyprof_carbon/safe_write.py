"""Writing a recording or a report without ever leaving a half-written file, following a planted
symlink, or clobbering something that is not a regular file.

Each write goes to a fresh temporary file in the target's directory (O_EXCL|O_NOFOLLOW, random
name, so no other process or link can be there first), is fsynced, and is renamed over the
target. A reader therefore sees the old file or the whole new one; two writers to one path each
rename a complete file of their own and the last rename wins. Any failure removes the temporary.
"""
from __future__ import annotations

import contextlib
import os
import stat
from typing import Iterator, Union

from .errors import UserError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _refuse_non_regular(path: str) -> None:
    """A symlink, device, FIFO, socket or directory at `path` is never replaced (nor followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UserError(f"cannot write {path}: it is a symbolic link (not followed; remove it or choose another path)")
    if not stat.S_ISREG(st.st_mode):
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UserError(f"cannot write {path}: it is {what}")


def check_output_path(path: str) -> None:
    """Raise UserError now if `path` could not be written later: its directory is missing or not
    writable, or something other than a regular file is there. For `run`, before the script
    starts, so a long run is not lost at the end."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: directory {directory} is not writable")
    _refuse_non_regular(path)


@contextlib.contextmanager
def atomic_writer(path: str) -> Iterator:
    """A binary file object; on a clean exit its content replaces `path` in one rename."""
    _refuse_non_regular(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)[:100]
    try:
        while True:
            # secrets.token_hex(8) without importing secrets (hmac, OpenSSL) before the program starts
            tmp = os.path.join(directory, f".{base}.{os.urandom(8).hex()}.tmp")
            try:
                fd = os.open(tmp, _FLAGS, 0o666)  # the umask applies, as for any new file
                break
            except FileExistsError:  # astronomically unlikely; draw another name
                continue
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _refuse_non_regular(path)  # again: something may have been planted meanwhile
        os.replace(tmp, path)  # rename replaces a link itself, never its target
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path: str, data: Union[str, bytes]) -> None:
    """Atomically replace `path` with `data` (str is written as UTF-8)."""
    with atomic_writer(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
