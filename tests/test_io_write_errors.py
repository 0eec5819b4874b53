"""A full disk or a folder without write permission ends a rule with one clear line; its log keeps the traceback.

The errors are injected (monkeypatch) inside the atomic writer (io.atomic.atomic_path), where every
output is written: the temporary file is removed and the final name never appears.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

from livertrials.io import atomic
from livertrials.io.atomic import OutputWriteError, write_text
from livertrials.io.tables import ISSUES, to_table, write_table


def failing(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("code, line", [
    (errno.ENOSPC, "no space left on device while writing {path}: free space and rerun"),
    (errno.EACCES, "permission denied while writing {path}: make the folder writable and rerun"),
    (errno.EROFS, "read-only file system while writing {path}: write the results to a writable folder and rerun"),
])
def test_disk_full_or_no_permission_while_renaming_is_one_clear_line(tmp_path, monkeypatch, code, line):
    path = tmp_path / "results" / "validation" / "report.txt"
    monkeypatch.setattr(atomic.os, "replace", failing(code))
    with pytest.raises(OutputWriteError) as raised:
        write_text(path, "report\n")
    assert str(raised.value) == line.format(path=path)
    assert raised.value.errno == code and isinstance(raised.value.__cause__, OSError)
    assert list(path.parent.iterdir()) == []  # no temporary file left, no final file


def test_disk_full_while_writing_parquet(tmp_path, monkeypatch):
    """pyarrow raises the OSError itself (errno 28) half-way through the file."""
    path = tmp_path / "issues.parquet"

    def write_half(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1")
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq, "write_table", write_half)
    with pytest.raises(OutputWriteError, match=r"^no space left on device while writing .*issues\.parquet: free space and rerun$"):
        write_table(to_table([], ISSUES), path)
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_are_not_reworded(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "replace", failing(errno.EIO))
    with pytest.raises(OSError) as raised:
        write_text(tmp_path / "a.txt", "x")
    assert not isinstance(raised.value, OutputWriteError) and raised.value.errno == errno.EIO


RULE_SCRIPT = """
import errno, os
from livertrials.io import atomic
from livertrials.io.atomic import write_text
from livertrials.io.logs import log_to

def full(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

atomic.os.replace = full  # the disk fills up as the output is completed
with log_to({log!r}):
    print("writing the report")
    write_text("results/validation/report.txt", "report\\n")
"""


def test_rule_script_ends_in_one_line_and_its_log_keeps_the_traceback(tmp_path):
    log = tmp_path / "results" / "logs" / "merge_shards.log"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(RULE_SCRIPT.format(log=str(log)))], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "no space left on device while writing results/validation/report.txt: free space and rerun\n"
    text = log.read_text(encoding="utf-8")
    assert text.startswith("writing the report\n")
    assert "Traceback" in text and "OSError: [Errno 28] No space left on device" in text
    assert "OutputWriteError: no space left on device while writing results/validation/report.txt" in text
    assert not (tmp_path / "results" / "validation" / "report.txt").exists()


def test_a_full_disk_met_outside_the_atomic_writer_is_one_line_too(tmp_path):
    log = tmp_path / "rule.log"
    script = textwrap.dedent(f"""
        import errno, os
        from livertrials.io.logs import log_to
        with log_to({str(log)!r}):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "results/provenance/history/x")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "no space left on device while writing results/provenance/history/x: free space and rerun\n"
    assert "Traceback" in log.read_text(encoding="utf-8")
