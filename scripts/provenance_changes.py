"""Snakemake script: what changed since the previous run (living review), then this run becomes the previous one.

The previous run's snapshot is kept in results/provenance/history/, which is deliberately not a declared
output: Snakemake deletes declared outputs before a job runs, which would destroy the snapshot this job
compares against. The snapshot is replaced only after the report is written.
"""
import json
from pathlib import Path

import pandas as pd

from livertrials.io.atomic import write_text
from livertrials.io.logs import log_to
from livertrials.provenance.changes import change_markdown, change_report, read_snapshot, save_snapshot
from livertrials.provenance.manifest import write_json
from livertrials.synthesis.settings import Settings

with log_to(snakemake.log[0]):
    history = Path(snakemake.params.history)
    current = json.loads(Path(snakemake.input.manifest).read_text(encoding="utf-8"))
    previous, before = read_snapshot(history, current)
    now = pd.read_parquet(snakemake.input.pooled)
    report = change_report(previous, current, before, now, snakemake.config, float(snakemake.params.tolerance))
    write_json(Path(snakemake.output.json), report)
    write_text(Path(snakemake.output.md), change_markdown(report, Settings.from_config(snakemake.config["synthesis"])))
    save_snapshot(history, {"manifest.json": Path(snakemake.input.manifest), "pooled.parquet": Path(snakemake.input.pooled)},
                  [Path(snakemake.output.md), Path(snakemake.output.json)], current["run"]["end"], int(snakemake.params.keep))
    pooled = report["pooled"]
    print(f"pooled rows: {len(pooled['moved'])} moved, {len(pooled['new'])} new, {len(pooled['dropped'])} no longer produced")
