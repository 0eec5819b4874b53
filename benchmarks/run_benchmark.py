"""Time the Snakemake build: cold build, no-op rerun, and rebuild after editing one study.

Run:  python benchmarks/run_benchmark.py [--studies 1000 [200 ...]] [--skip-shipped] [--cores 2]
                                         [--seed S] [--workdir DIR] [--shards K] [--keep]
                                         [--snapshot] [--timeout 1800] [--target RULE ...]

Every case runs in its own throw-away work directory (under --workdir, else a new
folder under /tmp) holding a copy of config/config.yaml, resources/registry/ and a
corpus: the shipped corpus (resources/studies + resources/comparators) or N synthetic
studies from benchmarks/generate_corpus.py. The pipeline itself is run from this
checkout:  snakemake -s /work/main/Snakefile -d WORKDIR -c 2 -q.

For each case three builds are timed (wall clock, whole snakemake process):
  cold    - empty results/, everything is built;
  noop    - immediately again, nothing should run;
  edit    - after changing one number in one study's measurements.csv.
After each build results/harmonized/outcomes.parquet must exist and hold exactly the
expected number of studies. Peak RSS (the largest single process: snakemake or one
of its jobs) comes from /usr/bin/time -v when present. Per-rule job times are read
from Snakemake's own records (.snakemake/metadata: start and end time of each job).

The pipeline code is read from the checkout while the benchmark runs; if someone edits
it meanwhile, the no-op and edit timings mean little (Snakemake reruns jobs whose code
changed). A hash of the pipeline code is recorded before and after each case and a
change is reported. --snapshot copies the pipeline (Snakefile, workflow/, scripts/,
src/, config/, resources/) once at the start and runs that copy (PYTHONPATH=copy/src)
so all cases measure one and the same version.

--target runs only the given rules or files (e.g. --target merge_shards to time the
harmonization without figures and synthesis); the study-count check still applies.

Results: a table on stdout and JSON in benchmarks/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate_corpus import DEFAULT_SEED, generate_corpus  # noqa: E402

PROJECT = HERE.parent
OUT_DIR = HERE / "out"
TIME_BIN = Path("/usr/bin/time")
HARMONIZED = Path("results/harmonized/outcomes.parquet")
# target seconds per (case, step); case "synthetic-1000" etc.
# issue "living review at scale", 2 cores: wall seconds (and 10,000 studies: peak RSS <= 8 GiB, checked below)
TARGETS = {("shipped", "cold"): 20.0, ("synthetic-1000", "cold"): 90.0, ("synthetic-1000", "noop"): 3.0,
           ("synthetic-1000", "edit"): 15.0, ("synthetic-10000", "cold"): 900.0, ("synthetic-10000", "edit"): 60.0}
RSS_TARGET_MIB = {"synthetic-10000": 8 * 1024}
BUSY_LOAD = 0.5  # 1-minute load average above which a timing is flagged as disturbed
# what --snapshot copies; what the code hash covers
PIPELINE_PARTS = ("Snakefile", "workflow", "scripts", "src", "config", "resources/registry", "resources/studies",
                  "resources/comparators", "environment.yml")
CODE_PARTS = ("Snakefile", "workflow", "scripts", "src", "config", "resources/registry")


def snakemake_exe() -> str:
    beside = Path(sys.executable).parent / "snakemake"
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def snapshot_pipeline(dest: Path) -> Path:
    """Copy the pipeline and its inputs to ``dest`` so every case runs one fixed version."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for part in PIPELINE_PARTS:
        source = PROJECT / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=ignore)
        elif source.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / part)
    return dest


def code_hash(root: Path) -> str:
    """sha256 over the pipeline code and configuration (what makes Snakemake rerun a job)."""
    digest = hashlib.sha256()
    for part in CODE_PARTS:
        base = root / part
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                                                      and p.suffix in {".py", ".smk", ".yaml", ".yml", ""})
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_workdir(workdir: Path, studies: int | None, seed: int, source: Path, corpora: Path | None = None) -> int:
    """Fill ``workdir`` with config, registry and a corpus (data only: Snakemake runs
    ``source/Snakefile``); return the number of studies expected. ``corpora``: a folder keeping generated corpora
    (``synthetic-N-seed-S``), copied rather than generated again (10,000 studies take minutes to write)."""
    (workdir / "config").mkdir(parents=True)
    shutil.copy2(source / "config/config.yaml", workdir / "config/config.yaml")
    shutil.copytree(source / "resources/registry", workdir / "resources/registry")
    if studies is None:  # the shipped corpus
        for name in ("studies", "comparators"):
            shutil.copytree(source / "resources" / name, workdir / "resources" / name)
    else:
        kept = corpora / f"synthetic-{studies}-seed-{seed}" if corpora else None
        if kept and not kept.is_dir():
            generate_corpus(kept, studies, seed)
        if kept:
            shutil.copytree(kept, workdir / "resources/studies")
        else:
            generate_corpus(workdir / "resources/studies", studies, seed)
        (workdir / "resources/comparators").mkdir(parents=True)
    return sum(1 for name in ("studies", "comparators") for p in (workdir / "resources" / name).iterdir()
               if p.is_dir() and not p.name.startswith((".", "_")))


def run_snakemake(workdir: Path, args, log: Path) -> dict:
    """Run the workflow once; wall seconds, peak RSS (MiB) and return code (None on timeout)."""
    cmd = [snakemake_exe(), "-q", "-s", str(args.source / "Snakefile"), "-d", str(workdir), "-c", str(args.cores)]
    cmd += args.target  # before --config, which takes every word after it
    if args.shards:
        cmd += ["--config", f"shards={args.shards}"]
    rss_file = log.with_suffix(".time")
    if TIME_BIN.exists():
        cmd = [str(TIME_BIN), "-v", "-o", str(rss_file), *cmd]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if args.source != PROJECT:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.source / "src"), env.get("PYTHONPATH")]))
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine slows every timing
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True)
        try:
            returncode = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # our own session: snakemake and its jobs
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            returncode = None
    seconds = time.perf_counter() - start
    result = {"seconds": round(seconds, 2), "cpu_s": None, "peak_rss_mib": None, "returncode": returncode,
              "timed_out": returncode is None, "load_before": load_before, "load_after": round(os.getloadavg()[0], 2)}
    if rss_file.exists():
        fields = dict(line.strip().rsplit(": ", 1) for line in rss_file.read_text().splitlines() if ": " in line)
        if "Maximum resident set size (kbytes)" in fields:
            result["peak_rss_mib"] = round(int(fields["Maximum resident set size (kbytes)"]) / 1024, 1)
        if "User time (seconds)" in fields:
            result["cpu_s"] = round(float(fields["User time (seconds)"]) + float(fields["System time (seconds)"]), 2)
    return result


def studies_in_output(workdir: Path) -> int | None:
    path = workdir / HARMONIZED
    if not path.exists():
        return None
    return len(pq.read_table(path, columns=["study_id"]).column("study_id").unique())


def job_times(workdir: Path, since: float) -> dict[str, dict]:
    """Per rule: jobs run since ``since`` (epoch s), total and longest job seconds, from .snakemake/metadata."""
    jobs: dict[tuple, tuple[float, float]] = {}  # one metadata record per output file: merge them per job
    for path in (workdir / ".snakemake/metadata").rglob("*"):
        if path.is_file():
            try:
                record = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError):
                continue
            start, end = record.get("starttime") or 0, record.get("endtime")
            if start >= since and end:
                key = (record["rule"], record.get("job_hash"))
                old = jobs.get(key, (start, end))
                jobs[key] = (min(old[0], start), max(old[1], end))
    rules: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "total_s": 0.0, "max_s": 0.0})
    for (rule, _), (start, end) in jobs.items():
        entry = rules[rule]
        entry["jobs"] += 1
        entry["total_s"] = round(entry["total_s"] + end - start, 2)
        entry["max_s"] = round(max(entry["max_s"], end - start), 2)
    return dict(sorted(rules.items()))


def edit_one_study(workdir: Path) -> str:
    """Change one printed mean (last decimal + 1) in the first study that prints one; return 'study:row_id'."""
    for folder in sorted((workdir / "resources/studies").iterdir()):
        path = folder / "measurements.csv"
        if not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields, rows = reader.fieldnames, list(reader)
        for row in rows:
            value = row.get("value", "")
            if row.get("statistic") == "mean" and value.replace(".", "", 1).isdigit():
                decimals = len(value.split(".")[1]) if "." in value else 0
                row["value"] = f"{float(value) + 10 ** -decimals:.{decimals}f}"
                with open(path, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(rows)
                return f"{folder.name}:{row['row_id']} {value} -> {row['value']}"
    raise RuntimeError("no study prints a mean to edit")


def run_case(name: str, studies: int | None, args, base: Path) -> dict:
    workdir = base / name
    t0 = time.perf_counter()
    expected = prepare_workdir(workdir, studies, args.seed, args.source, args.corpora)
    case = {"case": name, "workdir": str(workdir), "studies": expected, "prepare_s": round(time.perf_counter() - t0, 2),
            "code_hash": code_hash(args.source), "steps": {}}
    logs = workdir / "bench-logs"
    logs.mkdir()
    for step in ("cold", "noop", "edit"):
        if step == "edit":
            case["edited"] = edit_one_study(workdir)
        since = time.time()
        result = run_snakemake(workdir, args, logs / f"{step}.log")
        result["rules"] = job_times(workdir, since)
        result["studies_in_output"] = studies_in_output(workdir)
        result["ok"] = result["returncode"] == 0 and result["studies_in_output"] == expected
        target = TARGETS.get((name, step))
        if target and not args.target:
            result["target_s"] = target
            result["met"] = result["ok"] and result["seconds"] < target
        if name in RSS_TARGET_MIB and result["peak_rss_mib"]:
            result["rss_target_mib"] = RSS_TARGET_MIB[name]
            result["met"] = result.get("met", result["ok"]) and result["peak_rss_mib"] <= RSS_TARGET_MIB[name]
        case["steps"][step] = result
        rss = f"{result['peak_rss_mib']:7.1f}" if result["peak_rss_mib"] else "      -"
        cpu = f"{result['cpu_s']:8.2f}" if result["cpu_s"] is not None else "       -"
        print(f"  {name:>16} {step:<5} {result['seconds']:8.2f} s  cpu {cpu} s  rss {rss} MiB  load {result['load_before']:.1f}  "
              f"studies {result['studies_in_output']}/{expected}  jobs {sum(r['jobs'] for r in result['rules'].values())}"
              f"{'  TIMED OUT' if result['timed_out'] else ''}", flush=True)
        if result["load_before"] > BUSY_LOAD:
            print(f"    WARNING: load average {result['load_before']:.1f} before this build on {os.cpu_count()} CPUs: "
                  "other processes compete for the CPUs, so the wall time overstates the pipeline's", file=sys.stderr)
        if not result["ok"]:
            tail = (logs / f"{step}.log").read_text(errors="replace").splitlines()[-30:]
            print("    build failed, timed out or wrong study count; log tail:\n    " + "\n    ".join(tail), file=sys.stderr)
            break
    case["code_hash_after"] = code_hash(args.source)
    if case["code_hash_after"] != case["code_hash"]:
        print(f"  WARNING: the pipeline code changed while case {name} ran; its timings are not comparable", file=sys.stderr)
    return case


def cpu_speed_s() -> float:
    """Seconds one core takes for sum(range(10**8)) in this interpreter: this (virtual) machine's speed drifted by
    1.6x within a day, so every run records it and runs are compared after scaling by it."""
    start = time.perf_counter()
    sum(range(10**8))
    return round(time.perf_counter() - start, 2)


def machine() -> dict:
    version = subprocess.run([snakemake_exe(), "--version"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    return {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu": cpu, "python": platform.python_version(), "snakemake": version, "platform": platform.platform()}


def print_table(cases: list[dict]) -> None:
    print(f"\n{'case':<16} {'studies':>7} {'step':<5} {'seconds':>8} {'target':>7} {'met':>4} {'CPU s':>8} {'RSS MiB':>8} {'load':>5}"
          "  rules run (jobs: total s / longest s)")
    for case in cases:
        for step, r in case["steps"].items():
            rules = ", ".join(f"{rule} {v['jobs']}: {v['total_s']:.1f}/{v['max_s']:.1f}" for rule, v in r["rules"].items()) or "-"
            target = f"{r['target_s']:.0f}" if "target_s" in r else ""
            met = ("yes" if r["met"] else "NO") if "met" in r else ""
            rss = f"{r['peak_rss_mib']:.0f}" if r["peak_rss_mib"] else "-"
            cpu = f"{r['cpu_s']:.1f}" if r["cpu_s"] is not None else "-"
            wall = f"{r['seconds']:8.2f}" + ("+" if r["timed_out"] else "")
            print(f"{case['case']:<16} {case['studies']:>7} {step:<5} {wall:>8} {target:>7} {met:>4} {cpu:>8} {rss:>8} "
                  f"{r['load_before']:5.1f}  {rules}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, nargs="*", default=[1000], help="synthetic corpus sizes (default 1000)")
    parser.add_argument("--skip-shipped", action="store_true", help="do not run the shipped corpus")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--shards", type=int, default=None, help="override config shards (default: config/config.yaml)")
    parser.add_argument("--workdir", type=Path, default=None, help="parent folder for the work directories (default: new /tmp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument("--snapshot", action="store_true", help="run a copy of the pipeline taken at the start")
    parser.add_argument("--corpora", type=Path, help="folder keeping generated corpora between runs (default: none)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one build is stopped (default 1800)")
    parser.add_argument("--target", nargs="+", default=[], help="build only these rules or files (default: all)")
    args = parser.parse_args(argv)

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="bench-", dir=args.workdir))
    else:
        base = Path(tempfile.mkdtemp(prefix="livertrials-bench-"))
    args.source = snapshot_pipeline(base / "pipeline") if args.snapshot else PROJECT
    cases = ([] if args.skip_shipped else [("shipped", None)]) + [(f"synthetic-{n}", n) for n in args.studies]
    info = machine()
    info["cpu_speed_s"] = cpu_speed_s()
    print(f"CPU speed: sum(range(10**8)) in {info['cpu_speed_s']} s")
    print(f"work directories under {base}; {info['nproc']} CPUs, Python {info['python']}, snakemake {info['snakemake']}; "
          f"pipeline {'snapshot ' + str(args.source) if args.snapshot else 'live checkout ' + str(PROJECT)}")
    results = []
    try:
        for name, studies in cases:
            results.append(run_case(name, studies, args, base))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print_table(results)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    report = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": info, "cores": args.cores,
              "seed": args.seed, "shards": args.shards,
              "snapshot": args.snapshot, "target": args.target, "timeout_s": args.timeout, "targets": {f"{c}/{s}": t for (c, s), t in TARGETS.items()},
              "cases": results}
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / f"benchmark-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {out}")
    ok = all(step["ok"] for case in results for step in case["steps"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
