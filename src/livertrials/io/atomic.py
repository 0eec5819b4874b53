"""Write files so that no half-written file is ever visible under its final name.

Every output goes to a temporary file in the same folder and is renamed over the
final name only once it is complete (``os.replace`` is atomic on POSIX filesystems).
A full disk or a folder without write permission is the user's to fix, not a bug: it
becomes an OutputWriteError whose message is one line saying what to do.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# errno -> (what happened, what to do)
FIXABLE = {
    errno.ENOSPC: ("no space left on device", "free space and rerun"),
    errno.EDQUOT: ("disk quota exceeded", "free space (or raise the quota) and rerun"),
    errno.EACCES: ("permission denied", "make the folder writable and rerun"),
    errno.EPERM: ("operation not permitted", "make the folder writable and rerun"),
    errno.EROFS: ("read-only file system", "write the results to a writable folder and rerun"),
}
# only a write can fail with these: an OSError with them is a failed output wherever it was raised
WRITE_ONLY = {errno.ENOSPC, errno.EDQUOT}


class OutputWriteError(OSError):
    """An output could not be written for a reason the user can fix (disk full, no permission)."""

    def __str__(self) -> str:
        return self.strerror  # the one line, without "[Errno 28]"


def output_write_error(error: OSError, target) -> OutputWriteError | None:
    """The one-line error for ``error`` while writing ``target`` if the user can fix it, else None."""
    if isinstance(error, OutputWriteError) or error.errno not in FIXABLE:
        return None
    what, advice = FIXABLE[error.errno]
    return OutputWriteError(error.errno, f"{what} while writing {target}: {advice}")


@contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success."""
    final = Path(final)
    tmp_path = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.replace(tmp_path, final)
    except OSError as error:
        explained = output_write_error(error, final)
        if explained is None:
            raise
        raise explained from error
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_text(final: str | os.PathLike, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
