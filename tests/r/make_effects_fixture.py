"""Export the shipped corpus's study effects as tests/r/effects_fixture.csv for the metafor cross-check.

Run after the workflow (it reads results/synthesis/comparisons.parquet and pooled.parquet):

    /tmp/venv/bin/python tests/r/make_effects_fixture.py
    Rscript tests/r/metafor_crosscheck.R        # writes metafor_results.csv, metafor_escalc.csv

One row per (group, study effect). Two kinds of group:

* ``analysis``: the exact set of effects behind a pooled row of the pipeline with k >= 2
  (main, subgroup, sensitivity or leave-one-out), identified by its outcome, window, measure...
* ``stress``: every effect of one measure in the corpus, whatever its outcome or window. This
  is not a meaningful analysis: it only gives metafor larger and more heterogeneous real inputs.

The yi and vi columns are the pipeline's; the arm columns let the R script recompute yi and vi
with escalc, so both the effect sizes and the pooling are checked against metafor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
ARM_COLUMNS = ["n_1", "mean_1", "sd_1", "events_1", "total_1", "n_2", "mean_2", "sd_2", "events_2", "total_2"]
COLUMNS = ["group", "group_kind", "comparison_id", "study_id", "outcome", "measure", "source",
           "pre_post_correlation", *ARM_COLUMNS, "yi", "vi"]


def analysis_groups(comparisons: pd.DataFrame, pooled: pd.DataFrame) -> list[tuple[str, list[str]]]:
    groups, seen = [], set()
    for row in pooled[pooled["k"] >= 2].itertuples():
        ids = tuple(sorted(row.comparison_ids))
        if ids in seen:
            continue
        seen.add(ids)
        parts = [row.outcome, row.window, row.measure, row.design, row.analysis_name,
                 row.subgroup_level or "", row.omitted_study_id or ""]
        groups.append(("|".join(str(p) for p in parts if p and p == p), list(ids)))
    return groups


def stress_groups(comparisons: pd.DataFrame) -> list[tuple[str, list[str]]]:
    main_corr = comparisons["pre_post_correlation"].isna() | (comparisons["pre_post_correlation"] == 0.5)
    rows = comparisons[main_corr & (comparisons["comparison_type"] != "arm_vs_arm")]
    return [(f"stress|all {measure} effects", list(group.sort_values("comparison_id")["comparison_id"]))
            for measure, group in rows.groupby("measure") if len(group) >= 2]


FIXTURE = Path(__file__).with_name("effects_fixture.csv")


def main(results: Path = ROOT / "results" / "synthesis", out: Path = FIXTURE) -> None:
    comparisons = pd.read_parquet(results / "comparisons.parquet")
    comparisons.index = comparisons["comparison_id"].to_numpy()
    pooled = pd.read_parquet(results / "pooled.parquet")
    rows = []
    for kind, groups in (("analysis", analysis_groups(comparisons, pooled)), ("stress", stress_groups(comparisons))):
        for name, ids in groups:
            part = comparisons.loc[ids].assign(group=name, group_kind=kind)
            rows.append(part[COLUMNS])
    fixture = pd.concat(rows, ignore_index=True)
    fixture.to_csv(out, index=False, float_format="%.17g")
    print(f"{out}: {fixture['group'].nunique()} groups, {len(fixture)} rows")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
