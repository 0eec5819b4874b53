"""Evidence synthesis, the rule ``synthesize``: reads the harmonized tables (``tables.HARMONIZED`` and
``tables.CHARACTERISTICS``) and writes

* comparisons: one row per study x declared comparison x timepoint x effect measure (yi, vi, CI), and a
  copy of each study's latest effect for the longest follow-up analysis;
* windows: where every study timepoint went (analysis window, unassigned, not used) and why;
* pooled: per comparison x outcome x window (and longest follow-up) x measure: the main analysis with
  every configured tau^2 estimator and test, subgroups, sensitivity analyses and leave-one-out;
* comparators: published meta-analyses' pooled values, never recomputed and never pooled,
  beside our own pooled estimate for the same comparison, outcome, window and measure;
* small_study_tests: Egger-type regression test and trim-and-fill of the main analyses with
  k >= small_study_min_k (``synthesis.small_study``), when ``outputs`` names it;
* unmatched: the studies (or arms) that fall in no declared comparison, with the reason;
* optionally the summary of findings (GRADE certainty per comparison x outcome x window, also as CSV) and the
  evidence gaps (``sof_tables``), and the lineage edges of every row.

All effect sizes and pooling go through ``livertrials.synthesis.meta`` (the metafor-equivalent engine).
Rows of collection "comparators" never reach the pooling step: they are dropped before any
comparison is built, and ``pool_comparisons`` refuses them.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

from livertrials.io.cache import ContentCache
from livertrials.io.registry import load_registry
from livertrials.io.tables import read_table, to_table, write_batches, write_table
from livertrials.lineage.records import lineage_table
from livertrials.lineage.run_info import package_source_digest
from livertrials.synthesis.comparators import comparators_table
from livertrials.synthesis.comparisons import build_comparisons
from livertrials.synthesis.lineage import lineage_batches
from livertrials.synthesis.matching import resolve_comparisons, unmatched_table
from livertrials.synthesis.pooling import pool_comparisons
from livertrials.synthesis.schemas import COMPARATORS, COMPARISONS, POOLED, SMALL_STUDY_TESTS, UNMATCHED, WINDOWS
from livertrials.synthesis.settings import SETTINGS_KEY, Settings
from livertrials.synthesis.small_study import small_study_table
from livertrials.synthesis.sof_tables import (
    EVIDENCE_GAPS,
    SOF_TABLE,
    GradeSettings,
    gaps_table,
    sof_lineage,
    sof_table,
    unmatched_overrides,
    write_csv,
)
from livertrials.synthesis.windows import window_report

SCHEMAS = {"comparisons": COMPARISONS, "windows": WINDOWS, "pooled": POOLED, "comparators": COMPARATORS,
           "unmatched": UNMATCHED}


def synthesize(harmonized_path, characteristics_path, registry_path, config: dict, outputs: dict[str, Path],
               metadata: dict[str, str] | None = None, comparisons: list[dict] | None = None,
               risk_of_bias_path: Path | None = None, grade: dict | None = None, cache_dir: str | None = None) -> dict:
    """Build and write the five synthesis tables (and, if ``outputs`` has "lineage", their lineage edges);
    returns them as DataFrames. ``config`` is config["synthesis"], ``comparisons`` config["comparisons"] and
    ``grade`` config["grade"] (missing keys take their defaults); ``metadata`` (the run manifest) is embedded in
    every Parquet file written. With "summary_of_findings" in ``outputs`` the summary of findings is written too
    (Parquet, and CSV if "summary_of_findings_csv" is named), with "evidence_gaps" the gaps; the studies' risk of
    bias is read from ``risk_of_bias_path`` (harmonized/risk_of_bias.parquet; none: every study not assessed).
    ``cache_dir`` (config cache_dir; None or "": off) holds each study's comparisons, the pools, small-study tests and
    lineage edges of earlier runs, reused
    where their inputs are unchanged (docs/cache.md); the tables are the same with or without it."""
    registry = load_registry(str(registry_path))
    settings = resolve_comparisons(Settings.from_config(config, comparisons), registry)
    grading = GradeSettings.from_config(grade)
    grading.check(settings, registry.outcomes)
    harmonized = read_table(harmonized_path)
    characteristics = read_table(characteristics_path)
    benefit = {k: o.benefit for k, o in registry.outcomes.items()}
    code = package_source_digest() if cache_dir else ""
    caches = {name: ContentCache(cache_dir or None, name, code) for name in ("comparisons", "pools", "small_study_tests", "lineage")}
    comparisons, reasons = build_comparisons(harmonized, characteristics, settings, benefit, caches["comparisons"])
    tables = {
        "comparisons": comparisons,
        "windows": window_report(harmonized, comparisons, reasons, settings),
        "pooled": (pooled := pool_comparisons(comparisons, settings, caches["pools"])),
        "comparators": comparators_table(harmonized, characteristics, pooled, settings),
        "unmatched": unmatched_table(characteristics, settings),
    }
    extra = {SETTINGS_KEY: settings.as_json(), **(metadata or {})}
    for name, frame in tables.items():
        write_table(to_table(frame, SCHEMAS[name]), outputs[name], metadata=extra)
    if "small_study_tests" in outputs:   # optional, as lineage: callers that predate it name four tables
        tables["small_study_tests"] = small_study_table(comparisons, pooled, settings, caches["small_study_tests"])
        write_table(to_table(tables["small_study_tests"], SMALL_STUDY_TESTS), outputs["small_study_tests"], metadata=extra)
    sof_edges = []
    if "summary_of_findings" in outputs or "evidence_gaps" in outputs:
        rob = read_table(risk_of_bias_path) if risk_of_bias_path else None
        sof = sof_table(pooled, comparisons, characteristics, rob, settings, grading, registry.outcomes)
        gaps = gaps_table(pooled, settings, grading, registry.outcomes)
        for name, frame, schema in (("summary_of_findings", sof, SOF_TABLE), ("evidence_gaps", gaps, EVIDENCE_GAPS)):
            if name in outputs:
                write_table(to_table(frame, schema), outputs[name], metadata=extra)
                tables[name] = frame
        if "summary_of_findings_csv" in outputs:
            write_csv(sof, outputs["summary_of_findings_csv"])
        sof_edges = sof_lineage(sof)
        for entry in unmatched_overrides(grading, sof):
            print(f"WARNING: grade override matches no summary-of-findings row: {entry}")
    if "lineage" in outputs:   # written batch by batch: millions of edges at 10,000 studies
        # the lineage reads three columns of the harmonized rows: the whole table need not stay in memory
        harmonized = harmonized[["record_id", "study_id", "arm_id", "timepoint_text"]].copy()
        batches = chain(lineage_batches(harmonized, tables, settings, caches["lineage"]), [lineage_table(sof_edges)])
        write_batches((batch for batch in batches if batch.num_rows), outputs["lineage"], lineage_table([]).schema,
                      metadata=extra)
    _print_summary(tables)
    for cache in caches.values():
        cache.prune()
        print(cache.summary())
    return tables


def _print_summary(tables: dict) -> None:
    comparisons, pooled = tables["comparisons"], tables["pooled"]
    print(f"comparisons: {len(comparisons)} effect rows, {int(comparisons['used'].sum())} used")
    print(f"pooled rows: {len(pooled)} ({int(pooled['pooled'].sum())} with k >= 2)")
    for comparison, group in pooled[pooled["analysis"] == "main"].groupby("comparison", sort=False):
        print(f"  {comparison}: {group['outcome'].nunique()} outcomes, largest k {int(group['k'].max())}")
    if len(tables["unmatched"]):
        print(f"in no comparison: {', '.join(tables['unmatched']['study_id'])}")
    for warning in sorted({w for ws in pooled["warnings"] for w in ws if not w.startswith("k=1")}):
        print("WARNING:", warning)
    print(tables["windows"]["status"].value_counts().to_string())
    if "summary_of_findings" in tables:
        sof = tables["summary_of_findings"]
        print(f"summary of findings: {len(sof)} rows; certainty: "
              + ", ".join(f"{c} {n}" for c, n in sof["certainty"].value_counts().items()))
    if "evidence_gaps" in tables:
        print(f"evidence gaps (critical outcomes, k = 0 or 1): {len(tables['evidence_gaps'])}")
