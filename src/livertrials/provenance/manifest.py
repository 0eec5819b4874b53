"""The run manifest (rule provenance_run, ``results/provenance/manifest.json``): the time-free manifest of
livertrials.lineage.run_info plus the SHA-256 of every config, workflow and output file and the run's start and
end."""

from __future__ import annotations

import json
from pathlib import Path

from livertrials.lineage.run_info import manifest, sha256

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


def relative_to_root(paths, root: Path) -> dict[str, Path]:
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
        "workflow_files": {name: sha256(path) for name, path in sorted(relative_to_root(workflow_files, root).items())},
        "outputs": hashes(outputs),
    }
    if validation_summary is not None and Path(validation_summary).exists():
        out["validation"] = json.loads(Path(validation_summary).read_text(encoding="utf-8"))
    return out


def write_json(path: Path, data) -> None:
    from livertrials.io.atomic import write_text

    write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
