"""Fault injection: a workflow run killed at a random moment leaves no half-written output.

On temporary copies of the project (shipped corpus):

1. a clean, uninterrupted build is the reference; its wall time T is measured;
2. `python -m snakemake -c2` is started in a fresh copy, its whole process group is
   SIGKILLed at a seeded random moment in [0.5 s, T], and every file then under results/ (hidden
   temporary files excepted) must be complete: every .parquet opens with pyarrow, every
   .json parses, every .png ends with the IEND chunk, every .svg ends with </svg>, every
   .html with </html>, every .txt / .md with a newline, and every file copied into the
   RO-Crate equals its source;
3. the stale lock is removed (`--unlock`: Snakemake cannot tell a SIGKILLed run from a
   live one) and `snakemake -c2 --rerun-incomplete` resumes;
4. after the last kill the resumed run completes and the results are identical to the
   reference: same files, same bytes for every Parquet, SVG, PNG, text and Markdown file,
   same JSON for JSON files. Logs, the run manifest, the RO-Crate, the run history and the
   HTML report are ignored (they hold times).

Two modes (LIVERTRIALS_FAULT_MODE):

* ``chained`` (default): the kills hit one build in succession (fresh start, then
  resumed runs), each at a random moment of its own equal slice of [0.5 s, T], then one
  resume to completion. Moments are on the clean build's clock, which follows the build's
  progress (see run_and_kill), so a busier or idler machine does not shift the stages hit.
  Total time about 2 T; it also checks that a resumed run can itself be killed.
* ``independent``: each kill starts from a fresh copy and is resumed to completion and
  compared on its own, at the same moments (about (kills + 1) x T).

LIVERTRIALS_FAULT_KILLS (default 3) and LIVERTRIALS_FAULT_SEED change the campaign.
Outputs are written to a temporary name and renamed (livertrials.io.atomic); a kill may
leave hidden ``.<name>.*.tmp`` files or staging folders behind, never a truncated file
under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import copy_project

from livertrials.io.cache import CHECKSUM_BYTES

KILLS = int(os.environ.get("LIVERTRIALS_FAULT_KILLS", "3"))
SEED = int(os.environ.get("LIVERTRIALS_FAULT_SEED", "20261126"))
MODE = os.environ.get("LIVERTRIALS_FAULT_MODE", "chained")
MIN_DELAY = 0.5
# results/ entries that legitimately differ between two runs (times, run ids) or are streamed (logs)
IGNORED = ("logs/", "provenance/manifest.json", "provenance/ro-crate/", "provenance/history/", "report/")
CRATE = "provenance/ro-crate/"
PNG_END = b"IEND\xaeB`\x82"
ENV = dict(os.environ, PYTHONUNBUFFERED="1",
           PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def snakemake(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def is_ignored(rel: str) -> bool:
    return any(rel == p.rstrip("/") or rel.startswith(p) for p in IGNORED)


def visible_files(results: Path) -> dict[str, Path]:
    """Every file under results/ except hidden ones (temporary files, staging folders, Snakemake's markers)."""
    if not results.is_dir():
        return {}
    return {p.relative_to(results).as_posix(): p for p in results.rglob("*")
            if p.is_file() and not is_hidden(p.relative_to(results))}


def compared_files(results: Path) -> dict[str, Path]:
    return {rel: p for rel, p in visible_files(results).items() if not is_ignored(rel)}


def hidden_entries(results: Path) -> list[str]:
    """Hidden files and folders left under results/ (top-most hidden part only)."""
    if not results.is_dir():
        return []
    found = set()
    for path in results.rglob("*"):
        parts = path.relative_to(results).parts
        for depth, part in enumerate(parts):
            if part.startswith("."):
                found.add("/".join(parts[: depth + 1]) + ("/" if path.is_dir() or depth + 1 < len(parts) else ""))
                break
    return sorted(found)


def completeness_problem(path: Path, rel: str = "", work: Path | None = None) -> str | None:
    """Why the file is not a complete output, or None."""
    suffix = path.suffix.lower()
    try:
        if rel.startswith(CRATE) and work is not None:
            inside = rel[len(CRATE):]
            source = work / inside
            if source.is_file() and inside not in {"README.md", "ro-crate-metadata.json"}:
                return None if path.read_bytes() == source.read_bytes() else f"crate copy differs from {inside}"
        if rel.startswith("cache/"):   # an entry of the rebuild cache: its checksum must hold (docs/cache.md)
            raw = path.read_bytes()
            if hashlib.sha256(raw[CHECKSUM_BYTES:]).digest() != raw[:CHECKSUM_BYTES]:
                return "cache entry whose checksum does not match its payload"
        elif suffix == ".parquet":
            pq.read_table(path)  # the footer and every column chunk
        elif suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".png":
            data = path.read_bytes()
            if not (data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(PNG_END)):
                return "PNG without its signature or IEND chunk"
        elif suffix == ".svg":
            if not path.read_text(encoding="utf-8").rstrip().endswith("</svg>"):
                return "SVG does not end with </svg>"
        elif suffix in {".html", ".htm"}:
            if not path.read_text(encoding="utf-8").rstrip().lower().endswith("</html>"):
                return "HTML does not end with </html>"
        elif suffix in {".txt", ".md", ".csv"}:   # .csv: summary_of_findings.csv, one line per row
            if not path.read_text(encoding="utf-8").endswith("\n"):
                return "text does not end with a newline"
        elif suffix in {".yaml", ".yml"}:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            return f"no completeness check for {suffix or path.name!r} files (teach this test how to check it)"
    except Exception as error:  # noqa: BLE001 - any failure to read is the finding
        return f"{type(error).__name__}: {error}"
    return None


def half_written(work: Path) -> dict[str, str]:
    results = work / "results"
    problems = {}
    for rel, path in visible_files(results).items():
        if rel.startswith("logs/"):
            continue  # logs are streamed while a job runs: a killed job's log is cut by design
        problem = completeness_problem(path, rel, work)
        if problem:
            problems[rel] = problem
    return problems


def comparable(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else path.read_bytes()


def differences(results: Path, reference: dict[str, object]) -> dict[str, list[str]]:
    files = compared_files(results)
    return {"missing": sorted(set(reference) - set(files)), "extra": sorted(set(files) - set(reference)),
            "different": sorted(rel for rel in set(files) & set(reference) if comparable(files[rel]) != reference[rel])}


def why_different(path: Path, expected) -> str:
    """A short reason two versions of an output differ (a Parquet file: its rows, or which metadata key)."""
    if path.suffix == ".parquet":
        table, reference = pq.read_table(path), pq.read_table(pa_buffer(expected))
        if not table.equals(reference):
            return "rows differ"
        ours, theirs = table.schema.metadata or {}, reference.schema.metadata or {}
        keys = sorted(k.decode() for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        return f"same rows; metadata differs: {keys}" if keys else "same rows and metadata; bytes differ"
    return "content differs"


def pa_buffer(data: bytes):
    import pyarrow as pa

    return pa.BufferReader(data)


def explained(diff: dict[str, list[str]], results: Path, reference: dict[str, object]) -> dict:
    return {**diff, "different": {rel: why_different(results / rel, reference[rel]) for rel in diff["different"]}}


RULE_LINE = re.compile(r"^(?:local)?rule (\w+):\s*$")
JOBID_LINE = re.compile(r"^\s+jobid: (\d+)\s*$")
FINISHED_LINE = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")


def stage_at_kill(log: str) -> tuple[str, int]:
    """(what was running when the run was killed, number of jobs it finished) from Snakemake's console output."""
    stage, finished = _progress(log)
    return stage, sum(finished.values())


def _progress(log: str) -> tuple[str, Counter]:
    """(what was running at the end of the log, finished jobs per rule)."""
    started, finished, current = {}, {}, None
    for line in log.splitlines():
        if match := RULE_LINE.match(line):
            current = match.group(1)
        elif (match := JOBID_LINE.match(line)) and current:
            started[match.group(1)] = current
            current = None
        elif match := FINISHED_LINE.search(line):
            finished[match.group(1)] = match.group(2)
    running = Counter(rule for job, rule in started.items() if job not in finished and rule != "all")
    done = Counter(rule for rule in finished.values() if rule != "all")
    if not started:
        return "startup (DAG building, no job started)", done
    if not running:
        return f"between jobs ({sum(done.values())} finished)", done
    return "running " + ", ".join(f"{rule} x{n}" if n > 1 else rule for rule, n in sorted(running.items())), done


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group (Snakemake and every job it started) and wait until it is gone."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {process.pid} still alive 10 s after SIGKILL")


def run_and_kill(work: Path, args: list[str], target: float, done_before: Counter, reference: dict,
                 log_path: Path) -> tuple[bool, str, Counter, float]:
    """Start Snakemake in its own session; SIGKILL its whole group once the build reaches ``target`` seconds on the
    clean build's clock. Returns (killed?, stage, jobs finished per rule, wall seconds the run lived).

    The clock follows progress, so a machine that is busier or idler than during the clean build does not move the
    kill to another stage: it is the clean-build time at which the jobs finished so far had finished, plus the wall
    time since this run last finished a job (since it started, after Snakemake's start-up, on a resumed run)."""
    timeline, startup = reference["timeline"], reference["startup"]
    base = progress_time(done_before, timeline)
    killed = False
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.monotonic()
        process = subprocess.Popen(snakemake(*args), cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=ENV)
        seen, last, reached = 0, None, base
        while process.poll() is None:
            finished = FINISHED_LINE.findall(log_path.read_text(encoding="utf-8", errors="replace"))
            now = time.monotonic()
            if len(finished) > seen:
                seen, last = len(finished), now
                reached = progress_time(done_before + Counter(rule for _, rule in finished if rule != "all"), timeline)
            if last is not None:
                clock = reached + (now - last)
            elif done_before:
                clock = base + max(0.0, now - start - startup)
            else:
                clock = now - start
            if clock >= target:
                kill_group(process)
                killed = True
                break
            time.sleep(0.05)
        wall = time.monotonic() - start
    stage, done = _progress(log_path.read_text(encoding="utf-8", errors="replace"))
    return killed, stage, done, wall


def unlock(work: Path) -> None:
    done = subprocess.run(snakemake("--unlock"), cwd=work, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]


def resume(work: Path) -> float:
    start = time.monotonic()
    done = subprocess.run(snakemake("-c2", "--rerun-incomplete"), cwd=work, capture_output=True, text=True, timeout=1200,
                          env=ENV)
    assert done.returncode == 0, f"the resumed run failed\n{done.stderr[-3000:]}"
    return time.monotonic() - start


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted clean build: its comparable outputs, its wall time and Snakemake's start-up time."""
    base = tmp_path_factory.mktemp("faults")
    work = copy_project(base / "reference")
    log_path = base / "reference.log"
    startup, timeline, seen = None, {}, 0
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.monotonic()
        process = subprocess.Popen(snakemake("-c2"), cwd=work, stdout=log, stderr=subprocess.STDOUT, env=ENV)
        while True:
            running = process.poll() is None
            text = log_path.read_text(encoding="utf-8", errors="replace")
            now = time.monotonic() - start
            if startup is None and "jobid:" in text:
                startup = now
            finished = FINISHED_LINE.findall(text)
            for _, rule in finished[seen:]:  # when each job finished, per rule, in order
                timeline.setdefault(rule, []).append(now)
            seen = len(finished)
            if not running:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - start
    assert process.returncode == 0, log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    assert half_written(work) == {}
    files = {rel: comparable(path) for rel, path in compared_files(work / "results").items()}
    for suffix in (".png", ".svg", ".parquet"):
        assert any(rel.endswith(suffix) for rel in files), suffix
    assert "validation/summary.json" in files
    return {"files": files, "elapsed": elapsed, "startup": startup or 0.0, "timeline": timeline,
            "hidden": hidden_entries(work / "results")}


def progress_time(done: Counter, timeline: dict[str, list[float]]) -> float:
    """How far into the clean build the jobs finished so far had got: when its last such job finished."""
    times = [timeline[rule][min(count, len(timeline[rule])) - 1] for rule, count in done.items() if count and rule in timeline]
    return max(times, default=0.0)


def cumulative_delays(rng: random.Random, clean_time: float) -> list[float]:
    """One random moment in each of KILLS equal slices of [MIN_DELAY, clean_time]."""
    span = max(clean_time - MIN_DELAY, 0.1)
    return [MIN_DELAY + span * (i + rng.random()) / KILLS for i in range(KILLS)]


@pytest.mark.slow
def test_killed_runs_leave_no_half_written_output_and_resume_identically(reference, tmp_path):
    assert MODE in {"chained", "independent"}, MODE
    rng = random.Random(SEED)
    clean_time, startup = reference["elapsed"], reference["startup"]
    targets = cumulative_delays(rng, clean_time)
    lines = [f"clean build {clean_time:.1f} s (Snakemake start-up {startup:.1f} s), {len(reference['files'])} compared "
             f"outputs; mode {MODE}, {KILLS} kills, seed {SEED}; hidden entries after a clean build: "
             f"{reference['hidden'] or '-'}"]
    identical = "the resumed results differ from an uninterrupted clean build"
    work = copy_project(tmp_path / "chain") if MODE == "chained" else None
    finished = Counter()  # jobs of this build finished so far, per rule
    for number, target in enumerate(targets):
        if MODE == "chained" and number:
            unlock(work)
            args = ["-c2", "--rerun-incomplete"]
        else:
            if MODE == "independent":
                work, finished = copy_project(tmp_path / f"kill{number}"), Counter()
            args = ["-c2"]
        killed, stage, per_rule, wall = run_and_kill(work, args, target, finished, reference, tmp_path / f"kill{number}.log")
        finished += per_rule
        done = sum(per_rule.values())
        results = work / "results"
        problems = half_written(work)
        assert problems == {}, f"kill {number} at {target:.2f} s ({stage}): half-written outputs {problems}"
        present, hidden = len(visible_files(results)), hidden_entries(results)
        line = (f"kill {number}: at {target:6.2f} s of the clean build -> {'SIGKILL' if killed else 'finished first'} "
                f"{wall:6.2f} s into {'a fresh run' if args == ['-c2'] else 'a resumed run'} | {stage} | {done} jobs finished | "
                f"{present} files under results/, all complete | hidden left: {', '.join(hidden) or '-'}")
        if MODE == "independent":
            unlock(work)
            took = resume(work)
            assert half_written(work) == {}
            found = differences(results, reference["files"])
            assert found == {"missing": [], "extra": [], "different": []}, \
                f"{identical}: {explained(found, results, reference['files'])}"
            line += f" | resumed in {took:.1f} s, identical"
        lines.append(line)
    if MODE == "chained":
        unlock(work)
        took = resume(work)
        assert half_written(work) == {}
        found = differences(work / "results", reference["files"])
        assert found == {"missing": [], "extra": [], "different": []}, \
            f"{identical}: {explained(found, work / 'results', reference['files'])}"
        lines.append(f"final resume: {took:.1f} s, results identical to the clean build; hidden left: "
                     f"{', '.join(hidden_entries(work / 'results')) or '-'}")
    print("\n" + "\n".join(lines))


# ---------------------------------------------------------------------------
# the checks themselves (fast): a truncated file is caught
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a.parquet", "a.json", "a.png", "a.svg", "a.txt", "a.html", "a.md"])
def test_completeness_check_catches_truncated_files(tmp_path, name):
    import pyarrow as pa

    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table({"x": list(range(1000))}), path)
    elif name.endswith(".json"):
        path.write_text(json.dumps({"rejected_studies": {}, "warnings": 0}, indent=2) + "\n")
    elif name.endswith(".png"):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plt.figure()
        fig.savefig(path, format="png")
        plt.close(fig)
    elif name.endswith(".svg"):
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>\n')
    elif name.endswith(".html"):
        path.write_text("<!doctype html><html><body><p>report</p></body></html>\n")
    else:
        path.write_text("validation checked: 0 excluded study(ies)\nsecond line\n")
    assert completeness_problem(path) is None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert completeness_problem(path) is not None


def test_crate_copies_are_compared_with_their_source(tmp_path):
    work = tmp_path / "work"
    (work / "resources").mkdir(parents=True)
    (work / "resources" / "a.csv").write_text("x,y\n1,2\n")
    crate = work / "results" / "provenance" / "ro-crate" / "resources"
    crate.mkdir(parents=True)
    (crate / "a.csv").write_text("x,y\n1,2\n")
    assert half_written(work) == {}
    (crate / "a.csv").write_text("x,y\n1,")
    assert list(half_written(work)) == ["provenance/ro-crate/resources/a.csv"]


def test_stage_parser_reads_snakemake_output():
    log = ("Building DAG of jobs...\n[Thu Nov 26 23:21:31 2026]\nlocalrule harmonize_shard:\n    input: x\n    jobid: 5\n"
           "    wildcards: shard=3\n[Thu]\nlocalrule harmonize_shard:\n    jobid: 6\nFinished jobid: 6 (Rule: harmonize_shard)\n")
    assert stage_at_kill(log) == ("running harmonize_shard", 1)
    assert stage_at_kill("Building DAG of jobs...\n")[0].startswith("startup")
