"""Snakemake script: the self-contained HTML report (results/report/index.html)."""
from pathlib import Path

from livertrials.io.logs import log_to
from livertrials.report.page import build_report

with log_to(snakemake.log[0]):
    build_report(
        Path(snakemake.params.results),
        Path(snakemake.input.manifest),
        [Path(p) for p in snakemake.input.figures],
        dict(snakemake.config),
        Path(snakemake.output.html),
        title=snakemake.params.settings["title"],
        audit_trail_budget=int(snakemake.params.settings["audit_trail_budget"]),
        risk_of_bias_manifest=Path(snakemake.input.risk_of_bias_manifest),
        cache_dir=snakemake.params.cache_dir,
    )
    print(f"report written: {snakemake.output.html}")
