"""Time the Snakemake build: cold build, no-op rerun, and rebuild after editing one study.

Run:  python benchmarks/run_benchmark.py [--studies 1000 [200 ...]] [--skip-shipped] [--cores 2]
                                         [--seed S] [--workdir DIR] [--shards K] [--keep]

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

Results: a table on stdout and JSON in benchmarks/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
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
TARGETS = {("shipped", "cold"): 20.0, ("synthetic-1000", "cold"): 120.0,
           ("synthetic-1000", "noop"): 3.0, ("synthetic-1000", "edit"): 15.0}


def snakemake_exe() -> str:
    beside = Path(sys.executable).parent / "snakemake"
    return str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")


def prepare_workdir(workdir: Path, studies: int | None, seed: int) -> int:
    """Fill ``workdir`` with config, registry and a corpus; return the number of studies expected."""
    (workdir / "config").mkdir(parents=True)
    shutil.copy2(PROJECT / "config/config.yaml", workdir / "config/config.yaml")
    shutil.copytree(PROJECT / "resources/registry", workdir / "resources/registry")
    if studies is None:  # the shipped corpus
        for name in ("studies", "comparators"):
            shutil.copytree(PROJECT / "resources" / name, workdir / "resources" / name)
    else:
        generate_corpus(workdir / "resources/studies", studies, seed)
        (workdir / "resources/comparators").mkdir(parents=True)
    return sum(1 for name in ("studies", "comparators") for p in (workdir / "resources" / name).iterdir()
               if p.is_dir() and not p.name.startswith((".", "_")))


def run_snakemake(workdir: Path, cores: int, config: list[str], log: Path) -> dict:
    """Run the workflow once; wall seconds, peak RSS (MiB) and return code."""
    cmd = [snakemake_exe(), "-q", "-s", str(PROJECT / "Snakefile"), "-d", str(workdir), "-c", str(cores)]
    if config:
        cmd += ["--config", *config]
    rss_file = log.with_suffix(".time")
    if TIME_BIN.exists():
        cmd = [str(TIME_BIN), "-v", "-o", str(rss_file), *cmd]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    seconds = time.perf_counter() - start
    peak = None
    if rss_file.exists():
        for line in rss_file.read_text().splitlines():
            if "Maximum resident set size" in line:
                peak = int(line.rsplit(":", 1)[1]) / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1) if peak else None, "returncode": proc.returncode}


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
    expected = prepare_workdir(workdir, studies, args.seed)
    case = {"case": name, "workdir": str(workdir), "studies": expected, "prepare_s": round(time.perf_counter() - t0, 2),
            "steps": {}}
    config = [f"shards={args.shards}"] if args.shards else []
    logs = workdir / "bench-logs"
    logs.mkdir()
    for step in ("cold", "noop", "edit"):
        if step == "edit":
            case["edited"] = edit_one_study(workdir)
        since = time.time()
        result = run_snakemake(workdir, args.cores, config, logs / f"{step}.log")
        result["rules"] = job_times(workdir, since)
        result["studies_in_output"] = studies_in_output(workdir)
        result["ok"] = result["returncode"] == 0 and result["studies_in_output"] == expected
        target = TARGETS.get((name, step))
        if target:
            result["target_s"] = target
            result["met"] = result["ok"] and result["seconds"] < target
        case["steps"][step] = result
        print(f"  {name:>16} {step:<5} {result['seconds']:8.2f} s  rss {result['peak_rss_mib'] or float('nan'):7.1f} MiB  "
              f"studies {result['studies_in_output']}/{expected}  jobs {sum(r['jobs'] for r in result['rules'].values())}",
              flush=True)
        if not result["ok"]:
            tail = (logs / f"{step}.log").read_text(errors="replace").splitlines()[-30:]
            print("    build failed or wrong study count; log tail:\n    " + "\n    ".join(tail), file=sys.stderr)
            break
    return case


def machine() -> dict:
    version = subprocess.run([snakemake_exe(), "--version"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    return {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu": cpu, "python": platform.python_version(), "snakemake": version, "platform": platform.platform()}


def print_table(cases: list[dict]) -> None:
    print(f"\n{'case':<16} {'studies':>7} {'step':<5} {'seconds':>8} {'target':>7} {'met':>4} {'RSS MiB':>8}  rules run (jobs: total s / longest s)")
    for case in cases:
        for step, r in case["steps"].items():
            rules = ", ".join(f"{rule} {v['jobs']}: {v['total_s']:.1f}/{v['max_s']:.1f}" for rule, v in r["rules"].items()) or "-"
            target = f"{r['target_s']:.0f}" if "target_s" in r else ""
            met = ("yes" if r["met"] else "NO") if "met" in r else ""
            rss = f"{r['peak_rss_mib']:.0f}" if r["peak_rss_mib"] else "-"
            print(f"{case['case']:<16} {case['studies']:>7} {step:<5} {r['seconds']:8.2f} {target:>7} {met:>4} {rss:>8}  {rules}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, nargs="*", default=[1000], help="synthetic corpus sizes (default 1000)")
    parser.add_argument("--skip-shipped", action="store_true", help="do not run the shipped corpus")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--shards", type=int, default=None, help="override config shards (default: config/config.yaml)")
    parser.add_argument("--workdir", type=Path, default=None, help="parent folder for the work directories (default: new /tmp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args(argv)

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="bench-", dir=args.workdir))
    else:
        base = Path(tempfile.mkdtemp(prefix="livertrials-bench-"))
    cases = ([] if args.skip_shipped else [("shipped", None)]) + [(f"synthetic-{n}", n) for n in args.studies]
    info = machine()
    print(f"work directories under {base}; {info['nproc']} CPUs, Python {info['python']}, snakemake {info['snakemake']}")
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
              "seed": args.seed, "shards": args.shards, "targets": {f"{c}/{s}": t for (c, s), t in TARGETS.items()},
              "cases": results}
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / f"benchmark-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {out}")
    ok = all(step["ok"] for case in results for step in case["steps"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
