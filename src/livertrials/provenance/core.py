"""Provenance: lineage from every output row to the printed numbers, the run manifest, the
living-review change report and the Workflow Run RO-Crate export (see docs/provenance.md).

Lineage is a table of edges ``output_id <- input_id`` with the step and transformation
that produced the output; the leaves are extraction rows (study, file, line, row_id,
quote, source). The manifest describes a run: SHA-256 of every input file, the resolved
configuration, package versions, git commit and whether the tree was dirty. The part
without times is embedded in every final Parquet file, so identical inputs give
byte-identical files; start and end times live only in ``results/provenance/manifest.json``
(and in the RO-Crate built from it).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pyarrow as pa

from livertrials.io.tables import field as _field

PACKAGES = ("livertrials", "snakemake", "pandas", "pyarrow", "pandera", "numpy", "scipy", "statsmodels", "matplotlib", "pyyaml",
            "jsonschema", "rocrate")
MANIFEST_KEY = "livertrials.manifest"

LINEAGE = pa.schema([
    _field("output_id", pa.string(), "id of the derived row (harmonized record, comparison, pooled estimate)"),
    _field("output_table", pa.string(), "table holding the output row (harmonized/outcomes, synthesis/comparisons, "
           "synthesis/pooled, synthesis/windows, synthesis/comparators)"),
    _field("input_id", pa.string(), "id of a row it was made from (extraction row_id, record_id, comparison_id, pooled_id)"),
    _field("input_kind", pa.string(), "extraction_row, patient_row, harmonized_record, comparison, pooled_estimate"),
    _field("step", pa.string(), "harmonize, score, compare (arms combined, effect computed), pool (window, method, weight), "
           "exclude (a comparison of the same pool left out, and why), window, publish, match"),
    _field("transformation", pa.string(), "what was done: method, unit factor, conversion, arm combination, effect formula, "
           "window assignment, pooling method and weight, or the reason for an exclusion"),
    _field("study_id", pa.string(), "study folder"),
    _field("file", pa.string(), "extraction file of an extraction-row input"),
    _field("line", pa.int64(), "line of the extraction row in its file (1 = header)"),
    _field("statistic", pa.string(), "statistic of the printed number"),
    _field("value", pa.string(), "printed value"),
    _field("unit", pa.string(), "printed unit"),
    _field("quote", pa.string(), "verbatim source sentence"),
    _field("source", pa.string(), "source URL or document"),
    _field("location", pa.string(), "where in the source"),
])


def record_lineage(study, records: list[dict]) -> list[dict]:
    """Edges from each harmonized record to the extraction (or patient) rows it used."""
    rows = {}
    if not study.measurements.empty and "row_id" in study.measurements:
        for index, row in zip(study.measurements.index, study.measurements.to_dict("records")):
            rows[row["row_id"]] = (index + 2, row)
    measurements_file = str(study.folder / "measurements.csv")
    edges = []
    for record in records:
        transformation = record["method"]
        if record.get("unit_factor") not in (None, 1, 1.0):
            transformation += f"; unit {record['unit_printed']} x {record['unit_factor']:g} -> {record['unit']}"
        for source_id in record["source_row_ids"]:
            edge = {"output_id": record["record_id"], "output_table": "harmonized/outcomes", "input_id": source_id,
                    "step": "harmonize", "transformation": transformation, "study_id": record["study_id"]}
            if source_id.startswith("patients.csv:"):
                edge.update(input_kind="patient_row", file=str(study.folder / "patients.csv"), line=int(source_id.split(":")[1]),
                            step="score")
            elif source_id in rows:
                line, row = rows[source_id]
                edge.update(input_kind="extraction_row", file=measurements_file, line=line, statistic=row["statistic"],
                            value=row["value"], unit=row["unit"] or row.get("unit_presumed", ""), quote=row["quote"],
                            source=row["source"], location=row.get("location", ""))
            edges.append(edge)
    return edges


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(config: dict) -> list[Path]:
    """Every file the run reads: study and comparator folders, the registry, the config."""
    files = [Path(config["registry"])]
    for key in ("studies_dir", "comparators_dir"):
        root = Path(config[key])
        if root.is_dir():
            files += sorted(p for p in root.glob("*/*") if p.is_file() and not p.name.startswith(".") and _inside(p, root))
    return files


def _inside(path: Path, root: Path) -> bool:
    """False for a file that is (or links to) something outside its collection: it is never copied or hashed
    into the run's outputs (the study is still read, and rejected, by validation)."""
    return path.resolve().is_relative_to(root.resolve())


def git_state(cwd: Path = Path(".")) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def package_source_digest() -> str:
    """One SHA-256 over the livertrials package's own source (path and hash of every .py and .yaml file): the
    code that made the outputs, even when the tree is dirty or outside git."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256(path)}\n".encode())
    return digest.hexdigest()


def workflow_root(smk) -> Path:
    """The workflow's own folder (where the Snakefile is) seen from a rule script (``scripts/*.py``). It is not
    the working directory when snakemake runs with ``-d OTHER``; git state and workflow files come from here."""
    return Path(smk.scriptdir).resolve().parent


def manifest(config: dict, cwd: Path = Path(".")) -> dict:
    """The run's description without times: same inputs and software give the same manifest. ``cwd`` is the
    workflow's folder, whose git commit is recorded."""
    return {
        "inputs": {str(p): sha256(p) for p in input_files(config)},
        "config": config,
        "packages": package_versions(),
        "python": platform.python_version(),
        "livertrials_source_sha256": package_source_digest(),
        "git": git_state(cwd),
    }


def manifest_metadata(config: dict, root: Path = Path(".")) -> dict[str, str]:
    """Key-value metadata for Parquet files: the manifest as canonical JSON (``root``: the workflow's folder)."""
    return {MANIFEST_KEY: json.dumps(manifest(config, root), sort_keys=True, separators=(",", ":"))}


# --------------------------------------------------------------------------------------
# Lineage of the whole run (rule provenance_lineage)
# --------------------------------------------------------------------------------------

def _lineage_pandas_metadata() -> bytes:
    """pandas metadata for lineage files: strings, and "line" as nullable Int64 (synthesis edges have no line;
    a plain read_parquet would otherwise turn the extraction rows' line numbers into floats, "line 4.0")."""
    import pandas as pd

    frame = pd.DataFrame({f.name: pd.Series(dtype="Int64" if f.name == "line" else "object") for f in LINEAGE})
    meta = json.loads(pa.Schema.from_pandas(frame, preserve_index=False).metadata[b"pandas"])
    for column in meta["columns"]:
        if column["name"] != "line":
            column["pandas_type"] = "unicode"
    return json.dumps(meta).encode()


def lineage_table(edges: list[dict]) -> pa.Table:
    """LINEAGE table of edge dicts (missing keys are null); built column by column, as a lineage can have
    millions of edges (leave-one-out rows of a large pool)."""
    table = pa.Table.from_pydict({f.name: [e.get(f.name) for e in edges] for f in LINEAGE}, schema=LINEAGE)
    return table.replace_schema_metadata({**(LINEAGE.metadata or {}), b"pandas": _lineage_pandas_metadata()})


def combine_lineage(paths: list[Path], out: Path, metadata: dict[str, str] | None = None) -> int:
    """Concatenate lineage tables (harmonize edges, then synthesis edges) in order; returns the edge count."""
    import pyarrow.parquet as pq

    from livertrials.io.tables import write_table

    tables = [pq.read_table(p).select(LINEAGE.names).cast(LINEAGE) for p in paths]
    table = pa.concat_tables(tables) if tables else LINEAGE.empty_table()
    table = table.replace_schema_metadata({b"pandas": _lineage_pandas_metadata()})
    write_table(table, out, metadata)
    return table.num_rows


# --------------------------------------------------------------------------------------
# Run manifest (rule provenance_manifest)
# --------------------------------------------------------------------------------------

# How the start of a run is found. Snakemake has no "run started" hook that a rule can rely on: a first rule
# with no input runs once and is then up to date, and making every rule depend on a fresh timestamp file would
# rebuild everything at every run (and break the no-op rerun). The manifest rule instead runs after every data
# output; the outputs rebuilt in this run are those newer than the previous run's end (kept in the history
# snapshot), and the earliest of their modification times is taken as the start. It is the end of the first
# job, so it is late by that job's duration (about a second for a batch of studies).
START_BASIS = ("earliest modification time of the outputs rebuilt in this run (those newer than the previous run's "
               "end); late by the duration of the first job")


def _iso(timestamp: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def _epoch(iso: str | None) -> float | None:
    from datetime import datetime

    return None if not iso else datetime.fromisoformat(iso).timestamp()


def rule_outputs(rules, skip: set[str], **wildcards) -> list[str]:
    """Every output path of the workflow's rules except those named in ``skip``; an output with wildcards is
    expanded over ``wildcards`` (e.g. shard=[0, 1, ...]) and left out if some wildcard remains."""
    import itertools
    import re

    found = set()
    for rule in rules:
        if rule.name in skip:
            continue
        for path in map(str, rule.output):
            names = sorted(set(re.findall(r"{(\w+)", path)))
            if not names:
                found.add(path)
            elif all(n in wildcards for n in names):
                for values in itertools.product(*(wildcards[n] for n in names)):
                    found.add(path.format(**dict(zip(names, values))))
    return sorted(found)


def workflow_files(root: Path = Path(".")) -> list[str]:
    """The workflow's own files: Snakefile, workflow/ (rules, schemas, report captions), scripts/*.py and the
    conda environment, as paths under ``root`` (pass ``workflow.basedir``: with ``snakemake -d OTHER`` the
    working directory holds the data, not the workflow)."""
    found = [root / "Snakefile", root / "environment.yml", *(root / "workflow").rglob("*"), *(root / "scripts").glob("*.py")]
    return sorted(str(p) for p in found if p.is_file() and "__pycache__" not in p.parts)


def _relative_to_root(paths, root: Path) -> dict[str, Path]:
    """Workflow files named relative to the workflow's folder, so the manifest is the same in every clone."""
    root = Path(root).resolve()
    return {Path(p).resolve().relative_to(root).as_posix(): Path(p) for p in paths}


def output_files(paths) -> list[Path]:
    """Files of a list of outputs, directories listed file by file (hidden files skipped), sorted."""
    files = set()
    for path in map(Path, paths):
        if path.is_dir():
            files.update(p for p in path.rglob("*")
                         if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            files.add(path)
    return sorted(files)


def hashes(paths) -> dict[str, str]:
    return {str(p): sha256(Path(p)) for p in sorted({str(p) for p in paths})}


def run_window(outputs: list[Path], previous_end: str | None, now: float | None = None) -> dict:
    """Start and end of this run from the outputs' modification times (see START_BASIS)."""
    import time

    end = time.time() if now is None else now
    since = _epoch(previous_end)
    fresh = [Path(p).stat().st_mtime for p in outputs if Path(p).exists()]
    fresh = [m for m in fresh if since is None or m > since]
    if not fresh:
        return {"start": _iso(end), "end": _iso(end), "start_basis": "no output was rebuilt: start = end",
                "outputs_rebuilt": 0}
    return {"start": _iso(min(fresh)), "end": _iso(max(end, max(fresh))), "start_basis": START_BASIS,
            "outputs_rebuilt": len(fresh)}


def run_manifest(config: dict, outputs: list[Path], configfiles: list[Path], workflow_files: list[Path],
                 previous: dict | None, validation_summary: Path | None = None, now: float | None = None,
                 root: Path = Path(".")) -> dict:
    """The manifest of this run: the time-free manifest plus config and workflow file hashes, the SHA-256 of every
    output, the validation outcome, the Snakemake version and the run's start and end."""
    base = manifest(config, root)
    outputs = output_files(outputs)
    out = {
        "run": run_window(outputs, (previous or {}).get("run", {}).get("end"), now),
        **base,
        "snakemake": base["packages"].get("snakemake"),
        "configfiles": hashes(configfiles),
        "workflow_files": {name: sha256(path) for name, path in sorted(_relative_to_root(workflow_files, root).items())},
        "outputs": hashes(outputs),
    }
    if validation_summary is not None and Path(validation_summary).exists():
        out["validation"] = json.loads(Path(validation_summary).read_text(encoding="utf-8"))
    return out


def write_json(path: Path, data) -> None:
    from livertrials.io.atomic import write_text

    write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")


# --------------------------------------------------------------------------------------
# Living-review change report (rule provenance_changes)
# --------------------------------------------------------------------------------------

MOVED_COLUMNS = ("estimate", "ci_lb", "ci_ub")
RATIO = {"RR", "OR", "HR"}


def study_of(path: str, config: dict) -> tuple[str, str] | None:
    """(collection, study id) of an input file inside a study folder, else None."""
    parent = Path(path).parent
    for collection, key in (("studies", "studies_dir"), ("comparators", "comparators_dir")):
        if parent.parent == Path(config[key]):
            return collection, parent.name
    return None


def input_changes(previous: dict, current: dict, config: dict) -> dict:
    """Input files added, removed and changed (by SHA-256), grouped into studies and other inputs."""
    before, now = previous.get("inputs", {}), current.get("inputs", {})
    files = {"added": sorted(set(now) - set(before)), "removed": sorted(set(before) - set(now)),
             "changed": sorted(p for p in set(now) & set(before) if now[p] != before[p])}
    studies: dict[str, dict] = {}
    other = []
    for change, paths in files.items():
        for path in paths:
            owner = study_of(path, config)
            if owner is None:
                other.append({"file": path, "change": change})
                continue
            entry = studies.setdefault(owner[1], {"study_id": owner[1], "collection": owner[0], "files": []})
            entry["files"].append({"file": path, "change": change})
    for study_id, entry in studies.items():
        folder = Path(config[f"{entry['collection']}_dir"]) / study_id
        had = any(study_of(p, config) == (entry["collection"], study_id) for p in before)
        has = any(study_of(p, config) == (entry["collection"], study_id) for p in now)
        entry["change"] = "added" if not had else "removed" if not has else "changed"
        entry["folder"] = str(folder)
        entry["files"].sort(key=lambda f: f["file"])
    config_files = {"changed": sorted(p for p in set(current.get("configfiles", {})) | set(previous.get("configfiles", {}))
                                      if current.get("configfiles", {}).get(p) != previous.get("configfiles", {}).get(p))}
    software = {k: {"before": previous.get("packages", {}).get(k), "now": v}
                for k, v in current.get("packages", {}).items() if previous.get("packages", {}).get(k) != v}
    return {"files": files, "studies": [studies[k] for k in sorted(studies)], "other_inputs": other,
            "config_changed": previous.get("config") != current.get("config"), "config_files": config_files["changed"],
            "software_changed": software,
            "git": {"before": previous.get("git", {}).get("commit"), "now": current.get("git", {}).get("commit")},
            "package_source_changed": previous.get("livertrials_source_sha256") != current.get("livertrials_source_sha256"),
            "workflow_files_changed": sorted(p for p in set(current.get("workflow_files", {})) | set(previous.get("workflow_files", {}))
                                             if current.get("workflow_files", {}).get(p) != previous.get("workflow_files", {}).get(p))}


def _value(x):
    import math

    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    return None if math.isnan(f) else f


def _summary(row) -> dict:
    out = {k: _value(row[k]) for k in MOVED_COLUMNS}
    out.update(k=int(row["k"]), study_ids=sorted(row["study_ids"]), comparison_ids=sorted(row["comparison_ids"]),
               pooled=bool(row["pooled"]))
    if row["measure"] in RATIO:
        out.update({f"ratio_{k}": _value(row[f"ratio_{k}"]) for k in MOVED_COLUMNS})
    return out


def pooled_changes(before, now, studies: list[dict], inputs: dict, tolerance: float = 0.0) -> dict:
    """Pooled rows (matched by pooled_id) that moved, appeared or disappeared, each with the inputs that caused it."""
    import pandas as pd

    changed = {s["study_id"]: s for s in studies}
    global_causes = ([f"input {o['file']} {o['change']}" for o in inputs["other_inputs"]]
                     + (["configuration changed"] if inputs["config_changed"] else [])
                     + [f"{name} {v['before']} -> {v['now']}" for name, v in inputs["software_changed"].items()]
                     + ([f"workflow code changed ({len(inputs['workflow_files_changed'])} files)"]
                        if inputs["workflow_files_changed"] else [])
                     + (["livertrials package source changed"] if inputs.get("package_source_changed") else [])
                     + [f"configuration file {p} changed" for p in inputs["config_files"]])
    identity = ("pooled_id", "outcome", "window", "measure", "design", "basis", "meld_variant", "analysis", "analysis_name",
                "method", "test")

    def who(row) -> dict:
        return {k: (None if k == "meld_variant" and pd.isna(row[k]) else row[k]) for k in identity}

    def causes(study_ids) -> list[dict]:
        found = [{"study_id": s, "change": changed[s]["change"], "files": [f["file"] for f in changed[s]["files"]]}
                 for s in sorted(set(study_ids)) if s in changed]
        return found or [{"study_id": None, "change": c, "files": []} for c in global_causes] or \
            [{"study_id": None, "change": "no input change found", "files": []}]

    before = {r["pooled_id"]: r for r in before.to_dict("records")} if before is not None and len(before) else {}
    now = {r["pooled_id"]: r for r in now.to_dict("records")}
    moved, new, dropped, unchanged = [], [], [], 0
    for pid, row in now.items():
        if pid not in before:
            new.append({**who(row), "now": _summary(row), "caused_by": causes(row["study_ids"])})
            continue
        old = before[pid]
        a, b = _summary(old), _summary(row)
        delta = {k: (None if a[k] is None or b[k] is None else b[k] - a[k]) for k in MOVED_COLUMNS}
        numbers_moved = any((a[k] is None) != (b[k] is None) or (d is not None and abs(d) > tolerance)
                            for k, d in delta.items())
        if not numbers_moved and a["study_ids"] == b["study_ids"] and a["comparison_ids"] == b["comparison_ids"]:
            unchanged += 1
            continue
        moved.append({**who(row), "before": a, "now": b, "change": delta,
                      "studies_added": sorted(set(b["study_ids"]) - set(a["study_ids"])),
                      "studies_removed": sorted(set(a["study_ids"]) - set(b["study_ids"])),
                      "caused_by": causes(set(a["study_ids"]) | set(b["study_ids"]))})
    for pid in [p for p in before if p not in now]:
        row = before[pid]
        dropped.append({**who(row), "before": _summary(row), "caused_by": causes(row["study_ids"])})
    return {"moved": moved, "new": new, "dropped": dropped, "unchanged": unchanged}


def change_report(previous: dict | None, current: dict, before, now, config: dict, tolerance: float = 0.0) -> dict:
    """What changed since the previous run (None: this run is the baseline)."""
    if previous is None:
        return {"baseline": True, "previous_run": None, "inputs": None,
                "pooled": {"moved": [], "new": [], "dropped": [], "unchanged": None},
                "note": "no previous run recorded: this run is the baseline for the next change report"}
    inputs = input_changes(previous, current, config)
    return {"baseline": False,
            "previous_run": {"end": previous.get("run", {}).get("end"), "git_commit": previous.get("git", {}).get("commit")},
            "inputs": inputs, "pooled": pooled_changes(before, now, inputs["studies"], inputs, tolerance)}


def _fmt(x) -> str:
    return "NA" if x is None else f"{x:.4g}"


def _estimate(summary: dict, measure: str) -> str:
    if summary is None:
        return ""
    prefix = "ratio_" if measure in RATIO and summary.get("ratio_estimate") is not None else ""
    est = summary.get(prefix + "estimate")
    return f"{_fmt(est)} [{_fmt(summary.get(prefix + 'ci_lb'))}, {_fmt(summary.get(prefix + 'ci_ub'))}] (k={summary['k']})"


def _delta(entry: dict) -> str:
    """Change of the estimate: a difference, or for RR/OR/HR the ratio of the two ratios."""
    import math

    d = entry["change"]["estimate"]
    if d is None:
        return "NA"
    if abs(d) < 1e-12 * max(1.0, abs(entry["before"]["estimate"] or 0.0)):   # floating-point noise of a refit
        d = 0.0
    return f"x{math.exp(d):.4g}" if entry["measure"] in RATIO else f"{d:+.4g}"


def _headline(entry: dict, settings) -> bool:
    """The row the comparators table shows: main analysis, default method, default test (or k = 1)."""
    k = (entry.get("now") or entry.get("before"))["k"]
    return (entry["analysis"] == "main" and entry["method"] == settings.default_method
            and (entry["test"] == settings.default_test or k == 1))


def change_markdown(report: dict, settings) -> str:
    """The change report as readable text."""
    lines = ["# What changed since the previous run", ""]
    if report["baseline"]:
        lines += ["No previous run is recorded under `results/provenance/history/`: this run is the baseline.",
                  "The next run will report which inputs changed and which pooled estimates moved.", ""]
        return "\n".join(lines)
    prev = report["previous_run"]
    inputs = report["inputs"]
    lines += [f"Compared with the run that ended {prev['end']} (git commit {prev['git_commit'] or 'none'}).", "",
              "## Inputs that changed", ""]
    if inputs["studies"]:
        for study in inputs["studies"]:
            files = ", ".join(f"`{f['file']}` ({f['change']})" for f in study["files"])
            lines.append(f"- study **{study['study_id']}** ({study['collection']}) {study['change']}: {files}")
    for other in inputs["other_inputs"]:
        lines.append(f"- input `{other['file']}` {other['change']}")
    if inputs["config_changed"]:
        lines.append("- the resolved configuration changed")
    for path in inputs["config_files"]:
        lines.append(f"- configuration file `{path}` added, removed or changed")
    for name, v in inputs["software_changed"].items():
        lines.append(f"- {name}: {v['before']} -> {v['now']}")
    if inputs["workflow_files_changed"]:
        lines.append(f"- workflow code: {', '.join(inputs['workflow_files_changed'])}")
    if inputs["git"]["before"] != inputs["git"]["now"]:
        lines.append(f"- git commit {inputs['git']['before']} -> {inputs['git']['now']}")
    if inputs.get("package_source_changed"):
        lines.append("- the livertrials package source changed (`livertrials_source_sha256`)")
    if lines[-1] == "":
        lines.append("- none (same input files, configuration and software)")
    pooled = report["pooled"]

    def cause(entry):
        return "; ".join(f"{c['study_id']} ({c['change']})" if c["study_id"] else c["change"] for c in entry["caused_by"])

    def where(entry):
        meld = f" ({entry['meld_variant']})" if entry.get("meld_variant") else ""
        return f"{entry['outcome']}{meld} | {entry['window']} | {entry['measure']} | {entry['design']}"

    head = [e for e in pooled["moved"] if _headline(e, settings)]
    lines += ["", f"## Pooled estimates that moved (main analysis, {settings.default_method}, {settings.default_test} test)", ""]
    if head:
        lines += ["| outcome | window | measure | design | before | now | change (ratio measures: now / before) | caused by |",
                  "|---|---|---|---|---|---|---|---|"]
        for e in head:
            lines.append(f"| {where(e)} | {_estimate(e['before'], e['measure'])} | {_estimate(e['now'], e['measure'])} | "
                         f"{_delta(e)} | {cause(e)} |")
    else:
        lines.append("None.")
    new_head = [e for e in pooled["new"] if _headline(e, settings)]
    if new_head:
        lines += ["", "## New pooled estimates", "", "| outcome | window | measure | design | now | caused by |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {where(e)} | {_estimate(e['now'], e['measure'])} | {cause(e)} |" for e in new_head]
    gone = [e for e in pooled["dropped"] if _headline(e, settings)]
    if gone:
        lines += ["", "## Pooled estimates no longer produced", "", "| outcome | window | measure | design | before | caused by |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {where(e)} | {_estimate(e['before'], e['measure'])} | {cause(e)} |" for e in gone]
    others = (len(pooled["moved"]) - len(head), len(pooled["new"]) - len(new_head), len(pooled["dropped"]) - len(gone))
    lines += ["", f"Other pooled rows (other methods, tests, subgroups, sensitivity and leave-one-out analyses): "
                  f"{others[0]} moved, {others[1]} new, {others[2]} no longer produced; {pooled['unchanged']} pooled rows "
                  "unchanged. Every row is listed in `changes.json`; `livertrials audit POOLED_ID` prints the trail of one.", ""]
    return "\n".join(lines)


# The previous run's snapshot lives in results/provenance/history/, which no rule declares as an output:
# Snakemake deletes a job's declared outputs before the job runs, so a declared snapshot would be gone exactly
# when the change report needs it. The changes rule reads it, writes its report, then replaces it.
SNAPSHOT_FILES = ("manifest.json", "pooled.parquet")


def read_snapshot(history: Path, current: dict | None = None):
    """(manifest, pooled table) of the previous run, or (None, None).

    If the previous snapshot is the ``current`` run itself (its change report is being made again, e.g. after
    the run was killed between saving the snapshot and Snakemake recording the job as done), the run before it
    is the previous one: the report says what changed since that run, as an uninterrupted build would."""
    folder = history / "previous"
    previous = _snapshot_manifest(folder)
    # earlier/ also stands in when previous/ is missing: a kill inside save_snapshot, between its renames
    if previous is None or (current is not None and previous == current):
        folder = history / "earlier"
        previous = _snapshot_manifest(folder)
    if previous is None:
        return None, None
    import pandas as pd

    pooled = pd.read_parquet(folder / "pooled.parquet") if (folder / "pooled.parquet").exists() else None
    return previous, pooled


def _snapshot_manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def save_snapshot(history: Path, files: dict[str, Path], extra: list[Path], run_end: str, keep: int) -> None:
    """Make this run the previous one: history/previous/ <- files; the run it replaces moves to history/earlier/
    (see read_snapshot); history/runs/<end>/ keeps the last ``keep`` runs."""
    import os
    import shutil
    import tempfile

    history.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".previous.", dir=history))
    for name, source in files.items():
        shutil.copy2(source, staging / name)
    stamp = run_end.replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    if keep > 0:
        archive = history / "runs" / stamp
        archive.mkdir(parents=True, exist_ok=True)
        for source in [*files.values(), *extra]:
            shutil.copy2(source, archive / Path(source).name)
        runs = sorted(p for p in (history / "runs").iterdir() if p.is_dir())
        for old in runs[:-keep]:
            shutil.rmtree(old)
    previous = history / "previous"
    if previous.exists():
        retired = history / f".retired.{os.getpid()}"
        same_run = _snapshot_manifest(previous) == _snapshot_manifest(staging)
        if same_run:                    # saved again for the same run: the run before it stays in earlier/
            os.replace(previous, retired)
        else:                           # previous becomes earlier, the old earlier is dropped
            if (history / "earlier").exists():
                os.replace(history / "earlier", retired)
            os.replace(previous, history / "earlier")
        os.replace(staging, previous)
        if retired.exists():
            shutil.rmtree(retired)
    else:
        os.replace(staging, previous)


# --------------------------------------------------------------------------------------
# Workflow Run RO-Crate (rule provenance_crate)
# --------------------------------------------------------------------------------------

CRATE_VERSION = "1.1"   # RO-Crate 1.1 with the Workflow Run Crate 0.5 profiles: what rocrate-validator checks today
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": ("Workflow RO-Crate", "1.0"),
}
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"   # defines sha256
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
CRATE_README = """# livertrials workflow run ({start} - {end})

This folder is a Workflow Run RO-Crate: `ro-crate-metadata.json` describes one run of the livertrials
Snakemake workflow (`Snakefile`, with `workflow/` and `scripts/`) as a `CreateAction` whose `object` is
every input (the study folders, the outcome registry, the configuration, each configuration key as a
parameter) and whose `result` is every output. Every file is here under its path in the project (outputs as
hard links where the filesystem allows: zip or copy the folder to take it elsewhere),
with its SHA-256 (`sha256`) in the metadata: `sha256sum PATH` must give the same value.

* `results/provenance/manifest.json`: the run manifest (inputs, outputs, config, versions, git, times).
* `results/provenance/lineage.parquet`: one edge per (output row, input row), down to the printed numbers
  and their quotes; `livertrials audit ID --results results` prints the trail of any id.
* `results/provenance/changes.md`: what changed since the previous run of the living review.

See docs/provenance.md in the livertrials repository.
"""
MEDIA_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json", ".md": "text/markdown",
               ".txt": "text/plain", ".csv": "text/csv", ".yaml": "text/yaml", ".yml": "text/yaml", ".svg": "image/svg+xml",
               ".png": "image/png", ".pdf": "application/pdf", ".py": "text/x-python", ".smk": "text/x-snakemake",
               ".rst": "text/x-rst", ".html": "text/html", "": "text/plain"}
PARAMETER_TYPES = {bool: "Boolean", int: "Integer", float: "Float", str: "Text", dict: "PropertyValue", list: "Text"}


def _file_properties(path: Path, name: str | None = None, description: str | None = None) -> dict:
    props = {"name": name or path.name, "sha256": sha256(path), "contentSize": str(path.stat().st_size),
             "encodingFormat": MEDIA_TYPES.get(path.suffix, "application/octet-stream")}
    if description:
        props["description"] = description
    return props


def _schema_descriptions(schema_path: Path) -> dict[str, str]:
    import yaml

    if not schema_path.exists():
        return {}
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    return {k: v.get("description", "") for k, v in (schema.get("properties") or {}).items()}


OUTPUT_DESCRIPTIONS = {
    "results/provenance/lineage.parquet": "row-level lineage: every output row <- the rows it was made from, down to the "
                                          "printed numbers and their quotes, with each step's transformation",
    "results/provenance/manifest.json": "run manifest: SHA-256 of every input and output, resolved configuration, "
                                        "package versions, git commit, start and end",
    "results/provenance/changes.md": "living-review change report: inputs changed since the previous run and the pooled "
                                     "estimates that moved",
    "results/provenance/changes.json": "the change report, machine-readable",
}


def write_crate(crate_dir: Path, run: dict, config: dict, configfiles: list[Path], workflow_files: list[Path],
                inputs: list[Path], outputs: list[Path], root: Path = Path(".")) -> Path:
    """Write a Workflow Run RO-Crate describing this run into ``crate_dir`` (inputs copied in, outputs
    hard-linked, paths kept)."""
    import io
    import os
    import shutil
    import tempfile
    import uuid

    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    code_root = Path(root)   # the workflow's folder (``root`` below is the crate's root dataset)
    crate = ROCrate(version=CRATE_VERSION)
    crate.metadata.extra_contexts.append(WFRUN_CONTEXT)
    root = crate.root_dataset
    times = run["run"]
    root["name"] = f"livertrials evidence synthesis: workflow run ending {times['end']}"
    root["description"] = ("Run of the livertrials Snakemake workflow: raw study extractions -> validated, harmonized "
                           "Parquet -> study-level effects and pooled estimates, with row-level lineage "
                           "(results/provenance/lineage.parquet) and the run manifest (results/provenance/manifest.json).")
    root["datePublished"] = times["end"]
    license_ = crate.add(ContextEntity(crate, "https://spdx.org/licenses/MIT",
                                       properties={"@type": "CreativeWork", "name": "MIT License",
                                                   "identifier": "https://spdx.org/licenses/MIT"}))
    root["license"] = license_
    profiles = [crate.add(ContextEntity(crate, uri, properties={"@type": "CreativeWork", "name": name, "version": version}))
                for uri, (name, version) in PROFILES.items()]
    root["conformsTo"] = profiles

    def add_file(path: Path, **kwargs):
        path = Path(path)
        if path.is_absolute():   # e.g. snakemake --configfile /elsewhere/run.yaml
            inside = path.resolve().is_relative_to(Path.cwd().resolve())
            rel = path.resolve().relative_to(Path.cwd().resolve()).as_posix() if inside else f"external/{path.name}"
        else:
            rel = path.as_posix()
        return crate.add_file(source=str(path), dest_path=rel, properties=_file_properties(path, **kwargs))

    named = _relative_to_root(workflow_files, code_root)
    snakefile = named.pop("Snakefile")
    workflow = crate.add_workflow(source=str(snakefile), dest_path="Snakefile", main=True, lang="snakemake",
                                  lang_version=run.get("snakemake"),
                                  properties={**_file_properties(Path(snakefile)), "name": "livertrials Snakemake workflow",
                                              "version": run["packages"].get("livertrials"), "license": license_,
                                              "conformsTo": {"@id": BIOSCHEMAS_WORKFLOW}})
    parts = [crate.add_file(source=str(path), dest_path=name, properties=_file_properties(path))
             for name, path in sorted(named.items())]
    if parts:
        workflow["hasPart"] = parts

    # The configuration keys are the workflow's parameters; folders and the registry are realized by data entities.
    described = _schema_descriptions(code_root / "workflow/schemas/config.schema.yaml")
    parameters, objects = [], [add_file(p, description="configuration file (keys below as parameters)") for p in configfiles]
    in_folder: dict[str, list] = {}
    for path in inputs:
        owner = study_of(str(path), config)
        entity = add_file(path)
        if owner is not None:
            in_folder.setdefault(config[f"{owner[0]}_dir"], []).append(entity)
        elif str(path) != str(config.get("registry")):
            objects.append(entity)
    for key in sorted(config):
        value = config[key]
        pid = f"#param-{key}"
        if key in ("studies_dir", "comparators_dir"):
            folder = crate.add_dataset(dest_path=str(Path(value).as_posix()).rstrip("/") + "/",
                                       properties={"name": str(value), "hasPart": in_folder.get(value, []),
                                                   "exampleOfWork": {"@id": pid}})
            kind, example = "Dataset", folder
        elif key == "registry":
            example = crate.get(Path(value).as_posix())
            example["exampleOfWork"] = {"@id": pid}
            kind = "File"
        else:
            kind = PARAMETER_TYPES.get(type(value), "Text")
            shown = value if isinstance(value, (bool, int, float, str)) else json.dumps(value, sort_keys=True)
            example = crate.add(ContextEntity(crate, f"#pv-{key}", properties={
                "@type": "PropertyValue", "name": key, "value": shown, "exampleOfWork": {"@id": pid}}))
        parameters.append(crate.add_formal_parameter(key, kind, identifier=pid, description=described.get(key) or None,
                                                     properties={"workExample": {"@id": example.id}}))
        objects.append(example)
    workflow["input"] = parameters

    results = []
    for path in outputs:
        results.append(add_file(path, description=OUTPUT_DESCRIPTIONS.get(Path(path).as_posix())))
    git = run.get("git") or {}
    packages = ", ".join(f"{k} {v}" for k, v in sorted(run.get("packages", {}).items()) if v)
    action_id = "#run-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"livertrials:{times['start']}:{times['end']}"))
    action = crate.add_action(workflow, identifier=action_id, object=objects, result=results, properties={
        "@type": "CreateAction",
        "name": f"livertrials workflow run {times['start']} - {times['end']}",
        "description": (f"snakemake {run.get('snakemake')}, Python {run.get('python')}; git commit "
                        f"{git.get('commit') or 'none (not a git checkout)'}, dirty: {git.get('dirty')}; "
                        f"start: {times.get('start_basis')}. Packages: {packages}."),
        "startTime": times["start"], "endTime": times["end"],
        "actionStatus": "http://schema.org/CompletedActionStatus",
    })
    root["mentions"] = action
    crate.add_file(source=io.StringIO(CRATE_README.format(start=times["start"], end=times["end"])), dest_path="README.md",
                   properties={"name": "How to read this crate", "encodingFormat": "text/markdown", "about": {"@id": "./"}})

    crate_dir = Path(crate_dir)
    crate_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{crate_dir.name}.", dir=crate_dir.parent))
    try:
        crate.write(staging)
        _link_result_copies(crate, staging)
        if crate_dir.exists():
            shutil.rmtree(crate_dir)
        os.replace(staging, crate_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return crate_dir / "ro-crate-metadata.json"


def _link_result_copies(crate, staging: Path) -> None:
    """Replace the crate's copies of files under results/ by hard links to them (143 MB of copies at 1,000
    studies). Safe for results only: the pipeline writes them to a new file and renames it (atomic_path), and
    Snakemake deletes them before a job reruns, so a link keeps the content of this run. Inputs (study files a
    person may edit in place) stay copies. Where links are not possible (another filesystem), copies stay."""
    import os
    from urllib.parse import unquote

    results = (Path.cwd() / "results").resolve()
    for entity in crate.get_entities():
        source = getattr(entity, "source", None)
        if not isinstance(source, (str, Path)) or not Path(source).resolve().is_relative_to(results):
            continue
        copy = staging / unquote(entity.id)
        if not copy.is_file():
            continue
        link = copy.with_name(f".{copy.name}.link")
        try:
            os.link(Path(source), link)
            os.replace(link, copy)
        except OSError:
            link.unlink(missing_ok=True)
