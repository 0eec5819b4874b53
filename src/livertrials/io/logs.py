"""Send a rule script's stdout and stderr to its Snakemake log file.

An exception escaping the block is written to the log with its traceback before stderr is
restored (so a crashing rule's log says why), then raised again. An output that could not be
written for a reason the user can fix (disk full, no permission: io.atomic.OutputWriteError)
ends the script with that one line on the console instead; the traceback stays in the log.
So does a full disk met anywhere else (e.g. a file written in place).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path

from livertrials.io.atomic import WRITE_ONLY, OutputWriteError, output_write_error


@contextlib.contextmanager
def log_to(path: str | Path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w", encoding="utf-8")
    try:
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            yield handle
    except BaseException as error:
        if not isinstance(error, SystemExit):  # a script's own exit is not a crash
            _quietly(lambda: traceback.print_exc(file=handle))
        _quietly(handle.close)
        if isinstance(error, OSError) and not isinstance(error, OutputWriteError) and error.errno in WRITE_ONLY:
            error = output_write_error(error, error.filename or "the outputs")
        if isinstance(error, OutputWriteError):
            raise SystemExit(str(error)) from error  # printed alone, exit status 1
        raise
    handle.close()
    sys.stdout.flush()


def _quietly(action) -> None:
    """Run a step of writing the log after a failure; if the log itself cannot be written (e.g. the disk
    is full), the console still gets the error."""
    try:
        action()
    except OSError:
        pass
