"""The record of a run (rule ``provenance_run``): the run manifest, then the living-review change report against
the previous run (after which this run becomes the previous one in ``history/``), then the Workflow Run RO-Crate
of it all. One process for the three: each is about a second's work, and as three rules each paid an interpreter
start on the path of every rebuild.

``history`` is deliberately not a declared output: Snakemake deletes declared outputs before a job runs, which
would destroy the snapshot this run compares against. The snapshot is replaced only after the change report is
written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from livertrials.io.atomic import write_text
from livertrials.provenance.changes import change_markdown, change_report, read_snapshot, save_snapshot
from livertrials.provenance.crate import write_crate
from livertrials.provenance.manifest import output_files, run_manifest, write_json
from livertrials.synthesis.settings import Settings


def record_run(config: dict, outputs: list[Path], inputs: list[Path], configfiles: list[Path],
               workflow_files: list[Path], summary: Path, pooled: Path, history: Path, keep: int, tolerance: float,
               written: dict[str, Path], root: Path = Path(".")) -> None:
    """Write ``written["manifest"]`` (manifest.json), ``written["changes_md"]`` and ``written["changes_json"]``
    (the change report) and the RO-Crate folder ``written["crate"]``; ``outputs`` are the files the manifest
    describes, ``inputs`` the run's inputs, ``summary`` the validation summary, ``pooled`` the pooled table."""
    previous, _ = read_snapshot(history)
    manifest = run_manifest(config, outputs, configfiles, workflow_files, previous, summary, root=root)
    write_json(written["manifest"], manifest)
    print(f"run {manifest['run']['start']} -> {manifest['run']['end']}: {len(manifest['inputs'])} inputs, "
          f"{len(manifest['outputs'])} outputs")

    manifest = json.loads(written["manifest"].read_text(encoding="utf-8"))   # as the file has it (JSON types)
    previous, before = read_snapshot(history, manifest)
    now = pd.read_parquet(pooled)
    report = change_report(previous, manifest, before, now, config, tolerance)
    write_json(written["changes_json"], report)
    write_text(written["changes_md"], change_markdown(report, Settings.from_config(config["synthesis"])))
    save_snapshot(history, {"manifest.json": written["manifest"], "pooled.parquet": pooled},
                  [written["changes_md"], written["changes_json"]], manifest["run"]["end"], keep)
    moved = report["pooled"]
    print(f"pooled rows: {len(moved['moved'])} moved, {len(moved['new'])} new, {len(moved['dropped'])} no longer produced")

    described = output_files([*outputs, written["manifest"], written["changes_md"], written["changes_json"]])
    path = write_crate(written["crate"], manifest, config, configfiles, workflow_files, inputs, described, root=root)
    print(f"wrote {path}")
