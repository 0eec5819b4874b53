"""Provenance: lineage from every output row to the printed numbers, and the run manifest.

Lineage is a table of edges ``output_id <- input_id`` with the step and transformation
that produced the output; the leaves are extraction rows (study, file, line, row_id,
quote, source). The manifest describes a run: SHA-256 of every input file, the resolved
configuration, package versions, git commit and whether the tree was dirty. The part
without times is embedded in every final Parquet file, so identical inputs give
byte-identical files; start and end times live only in ``results/provenance/manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pyarrow as pa

from livertrials.tables import _field

PACKAGES = ("livertrials", "snakemake", "pandas", "pyarrow", "pandera", "numpy", "scipy", "statsmodels", "matplotlib", "pyyaml", "jsonschema")
MANIFEST_KEY = "livertrials.manifest"

LINEAGE = pa.schema([
    _field("output_id", pa.string(), "id of the derived row (harmonized record, comparison, pooled estimate)"),
    _field("output_table", pa.string(), "table holding the output row"),
    _field("input_id", pa.string(), "id of a row it was made from (record_id, comparison id, or extraction row_id)"),
    _field("input_kind", pa.string(), "extraction_row, patient_row, harmonized_record, comparison"),
    _field("step", pa.string(), "harmonize, score, compare, pool"),
    _field("transformation", pa.string(), "what was done: method, unit factor, conversion, arm combination, window, exclusion"),
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
        for index, row in study.measurements.iterrows():
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
            files += sorted(p for p in root.glob("*/*") if p.is_file() and not p.name.startswith("."))
    return files


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


def manifest(config: dict, cwd: Path = Path(".")) -> dict:
    """The run's description without times: same inputs and software give the same manifest."""
    return {
        "inputs": {str(p): sha256(p) for p in input_files(config)},
        "config": config,
        "packages": package_versions(),
        "python": platform.python_version(),
        "git": git_state(cwd),
    }


def manifest_metadata(config: dict) -> dict[str, str]:
    """Key-value metadata for Parquet files: the manifest as canonical JSON."""
    return {MANIFEST_KEY: json.dumps(manifest(config), sort_keys=True, separators=(",", ":"))}
