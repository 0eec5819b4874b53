"""io.logs.log_to: a rule script's output and, when it crashes, its traceback end up in the rule's log."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from livertrials.io.logs import log_to


def failing_step():
    raise ValueError("bad value in step")


def test_traceback_of_an_escaping_exception_is_written_to_the_log(tmp_path):
    log = tmp_path / "logs" / "rule.log"
    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(ValueError, match="bad value in step"):
        with log_to(log):
            print("started")
            failing_step()
    assert (sys.stdout, sys.stderr) == (stdout, stderr)  # restored
    text = log.read_text(encoding="utf-8")
    assert text.startswith("started\n")
    assert "Traceback (most recent call last)" in text
    assert "in failing_step" in text and text.rstrip().endswith("ValueError: bad value in step")


def test_a_clean_block_and_a_deliberate_exit_log_no_traceback(tmp_path):
    with log_to(tmp_path / "ok.log"):
        print("done")
    assert (tmp_path / "ok.log").read_text(encoding="utf-8") == "done\n"
    with pytest.raises(SystemExit):
        with log_to(tmp_path / "exit.log"):
            print("exiting")
            sys.exit(1)
    assert (tmp_path / "exit.log").read_text(encoding="utf-8") == "exiting\n"


def test_a_crashing_script_leaves_the_traceback_in_its_log_and_on_the_console(tmp_path):
    log = tmp_path / "rule.log"
    script = textwrap.dedent(f"""
        from livertrials.io.logs import log_to
        with log_to({str(log)!r}):
            print("step 1")
            {{}}["missing key"]
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    text = log.read_text(encoding="utf-8")
    assert "step 1" in text and "Traceback" in text and "KeyError: 'missing key'" in text
    assert "KeyError: 'missing key'" in done.stderr  # Snakemake's console shows it too
