"""The methods the synthesis stage adds beside its inverse-variance pools, checked through the pipeline against R
metafor: Mantel-Haenszel and Peto rows of event pools, the test for subgroup differences on subgroup rows, and the
small-study tests table (regression test, trim-and-fill).

Study data go in as harmonized records (the helpers of test_synthesis) and come out of build_comparisons ->
pool_comparisons -> small_study_table, as in the workflow. Reference values:

* tests/data/synthesis_methods/results.csv, written by tests/r/synthesis_methods.R (metafor 3.8-1) from the
  constructed data sets beside it (nothing from the Python code); re-run live when R and metafor are installed;
* tests/data/gurusamy2011_metafor.csv, written by tests/r/gurusamy2011_reference.R from metadat's
  dat.gurusamy2011 (examples/gurusamy2011/source/dat.gurusamy2011.csv).

Tolerance: 1e-6 for closed-form results (MH, Peto, DL), 1e-4 with an iterative tau^2 estimator (REML: subgroup
test, regression test, trim-and-fill); absolute for |value| <= 1, relative beyond.
"""

from __future__ import annotations

import csv
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, metafor_missing
from test_synthesis import WINDOWS_ONLY, char, frames, rec

from livertrials.figures.forest_draw import draw_forest
from livertrials.figures.forest_plans import forest_specs
from livertrials.figures.forest_specs import subgroup_difference_text
from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, to_table
from livertrials.lineage.records import lineage_table
from livertrials.report.diagnostics import diagnostics_section
from livertrials.synthesis.comparisons import build_comparisons
from livertrials.synthesis.event_pools import RESULT_COLUMNS
from livertrials.synthesis.lineage import synthesis_lineage
from livertrials.synthesis.pooling import pool_comparisons
from livertrials.synthesis.run import synthesize
from livertrials.synthesis.schemas import POOLED, SMALL_STUDY_TESTS
from livertrials.synthesis.settings import Settings
from livertrials.synthesis.small_study import small_study_table
from livertrials.synthesis.windows import window_report

DATA = ROOT / "tests" / "data" / "synthesis_methods"
R_SCRIPT = ROOT / "tests" / "r" / "synthesis_methods.R"
GURUSAMY_SOURCE = ROOT / "examples" / "gurusamy2011" / "source" / "dat.gurusamy2011.csv"
GURUSAMY_REFERENCE = ROOT / "tests" / "data" / "gurusamy2011_metafor.csv"


def read_results(path: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            value = row["value"]
            text = row["quantity"] in ("side", "metafor_version")
            out.setdefault(row["case"], {})[row["quantity"]] = (
                value if text else math.nan if value in ("", "NA") else float(value))
    return out


def close(ours, reference, tol, what=""):
    if isinstance(reference, float) and math.isnan(reference):
        assert ours is None or math.isnan(ours), (what, ours)
        return
    assert abs(ours - reference) / max(1.0, abs(reference)) <= tol, (what, ours, reference)


def table(name: str) -> list[dict]:
    with open(DATA / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def pipeline(records, chars, settings=None):
    settings = settings or WINDOWS_ONLY
    comparisons = build_comparisons(*frames(records, chars), settings)[0]
    return comparisons, pool_comparisons(comparisons, settings)


def events_study(study, a, n1, c, n2, outcome="death", **arm_kw):
    return ([rec(study, "exp", "intervention", outcome=outcome, kind="events", unit=None, n=n1, events=a, total=n1),
             rec(study, "ctl", "control", outcome=outcome, kind="events", unit=None, n=n2, events=c, total=n2)],
            [char(study, "exp", "intervention", **arm_kw), char(study, "ctl", "control", **arm_kw)])


def md_study(row, source="bone_marrow"):
    f = {k: float(row[k]) for k in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")}
    return ([rec(row["study"], "cells", "intervention", n=f["n1i"], mean=f["m1i"], sd=f["sd1i"]),
             rec(row["study"], "control", "control", n=f["n2i"], mean=f["m2i"], sd=f["sd2i"])],
            [char(row["study"], "cells", "intervention", source=source), char(row["study"], "control", "control", source=source)])


def collect(studies):
    records, chars = [], []
    for r, c in studies:
        records += r
        chars += c
    return records, chars


def event_frames():
    """The events data set, plus S08 known only by its own reported RR (no counts)."""
    records, chars = collect(events_study(r["study"], *(int(r[k]) for k in ("ai", "n1i", "ci", "n2i")))
                             for r in table("events"))
    records.append(rec("S08", "exp_vs_ctl", "contrast", outcome="death", kind="events", quantity="ratio",
                       effect_measure="RR", estimate=0.8, lo=0.5, hi=1.3, n=None, unit="RR", arms_1=["exp"], arms_2=["ctl"]))
    chars += [char("S08", "exp", "intervention"), char("S08", "ctl", "control")]
    return records, chars


@pytest.fixture(scope="module")
def events():
    return pipeline(*event_frames())


REFERENCE = read_results(DATA / "results.csv")


# ---------------------------------------------------------------- Mantel-Haenszel and Peto rows

@pytest.mark.parametrize("case", ["mh/RR", "mh/OR", "mh/RD", "peto"])
def test_mh_and_peto_rows_equal_metafor(events, case):
    _, pooled = events
    method, measure = ("Peto", "OR") if case == "peto" else ("MH", case.split("/")[1])
    rows = pooled[(pooled["method"] == method) & (pooled["measure"] == measure)]
    assert len(rows) == 1
    row = rows.iloc[0]
    ref = REFERENCE[case]
    assert row["analysis"] == "main" and row["test"] == "z" and row["method_used"] == method
    assert row["k"] == ref["k"] == 7 and row["Q_df"] == ref["Q_df"] and bool(row["pooled"])
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), ("statistic", "zval"), ("pval", "pval"),
                         ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("Q", "Q"), ("Q_p", "Q_p"), ("I2", "I2"), ("H2", "H2")]:
        close(row[ours], ref[theirs], 1e-6, (case, ours))
    np.testing.assert_allclose(row["weights"], [ref[f"weights.{i}"] for i in range(1, 8)], rtol=0, atol=1e-6)
    assert list(row["study_ids"]) == [f"S0{i}" for i in range(1, 8)]        # the order of the data set and the weights
    if measure in ("RR", "OR"):
        assert row["ratio_estimate"] == pytest.approx(math.exp(row["estimate"]), rel=1e-12)
    for column in ("tau2", "pi_lb", "pi_ub", "df", "subgroup_q"):            # no tau^2, prediction or t df here
        assert pd.isna(row[column]), column


def test_a_study_without_counts_is_in_the_inverse_variance_row_only(events):
    _, pooled = events
    rr = pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "RR")]
    reml = rr[(rr["method"] == "REML") & (rr["test"] == "z")].iloc[0]
    mh = rr[rr["method"] == "MH"].iloc[0]
    assert "S08" in set(reml["study_ids"]) and "S08" not in set(mh["study_ids"]) and reml["k"] == mh["k"] + 1
    assert any("S08" in w and "no 2x2 counts" in w for w in mh["warnings"])
    assert any("Q has 5 df" in w for w in mh["warnings"])                     # the double-zero S03 adds nothing to Q


def test_pools_without_counts_get_no_mh_rows():
    records = [rec(f"R{i}", "exp_vs_ctl", "contrast", outcome="death", kind="events", quantity="ratio",
                   effect_measure="RR", estimate=0.7 + 0.1 * i, lo=0.4, hi=1.6, n=None, unit="RR", arms_1=["exp"],
                   arms_2=["ctl"]) for i in range(3)]
    chars = [char(f"R{i}", arm, role) for i in range(3) for arm, role in (("exp", "intervention"), ("ctl", "control"))]
    _, pooled = pipeline(records, chars)
    assert len(pooled) and not pooled["method"].isin(["MH", "Peto"]).any()


def test_existing_rows_do_not_change_and_the_methods_can_be_switched_off(events):
    comparisons, pooled = events
    off = Settings.from_config({"longest_follow_up": False, "event_methods": [], "subgroup_difference_test": False})
    before = pool_comparisons(comparisons, off)
    assert not before["method"].isin(["MH", "Peto"]).any()
    now = pooled[~pooled["method"].isin(["MH", "Peto"])].reset_index(drop=True)
    tests = ["subgroup_q", "subgroup_df", "subgroup_p", "subgroup_test"]   # new columns, filled on subgroup rows only
    pd.testing.assert_frame_equal(now.drop(columns=tests), before.drop(columns=tests))
    assert before[tests].isna().all().all()
    assert now.loc[now["analysis"] != "subgroup", tests].isna().all().all()
    assert now.loc[now["analysis"] == "subgroup", "subgroup_test"].notna().all()   # S08 has no cell source: 2 levels
    # the MH/Peto rows have ids of their own, stable and unique; Peto only on the OR pool
    events_only = pooled[pooled["method"].isin(["MH", "Peto"])]
    assert sorted(zip(events_only["method"], events_only["measure"])) == [
        ("MH", "OR"), ("MH", "RD"), ("MH", "RR"), ("Peto", "OR")]
    assert not pooled["pooled_id"].duplicated().any()
    assert list(pool_comparisons(comparisons, WINDOWS_ONLY)["pooled_id"]) == list(pooled["pooled_id"])
    only_mh = pool_comparisons(comparisons, Settings.from_config({"longest_follow_up": False, "event_methods": ["MH"]}))
    assert set(only_mh["method"]) & {"MH", "Peto"} == {"MH"}


def test_mh_rows_come_right_after_the_inverse_variance_main_rows(events):
    _, pooled = events
    rr = pooled[pooled["measure"] == "RR"].reset_index(drop=True)
    analyses = list(rr["analysis"])
    first_other = next(i for i, a in enumerate(analyses) if a != "main")
    assert rr.loc[first_other - 1, "method"] == "MH" and "main" not in analyses[first_other:]


def test_a_single_table_is_not_pooled_and_a_zero_table_is_not_estimable():
    # one trial with no deaths at all: MH OR/RR not estimable, MH RD = 0, Peto refused (as metafor)
    _, pooled = pipeline(*collect([events_study("Z1", 0, 12, 0, 13)]))
    mh = pooled[pooled["method"] == "MH"].set_index("measure")
    assert not mh["pooled"].any() and (mh["k"] == 1).all()
    assert math.isnan(mh.at["RR", "estimate"]) and math.isnan(mh.at["OR", "estimate"])
    assert mh.at["RD", "estimate"] == 0 and mh.at["RD", "se"] == 0
    peto = pooled[pooled["method"] == "Peto"].iloc[0]
    assert math.isnan(peto["estimate"]) and any("Peto OR not estimable" in w for w in peto["warnings"])
    assert all(w[0].startswith("k=1: not pooled") for w in pooled[pooled["method"].isin(["MH", "Peto"])]["warnings"])


def test_lineage_of_an_mh_row_names_the_method_and_each_studys_counts(events):
    comparisons, pooled = events
    records, chars = event_frames()
    harmonized, _ = frames(records, chars)
    settings = WINDOWS_ONLY
    tables = {"comparisons": comparisons, "pooled": pooled, "comparators": pd.DataFrame(columns=["comparator_id"]),
              "windows": window_report(harmonized, comparisons, {}, settings)}
    edges = lineage_table(synthesis_lineage(harmonized, tables, settings)).to_pandas()
    mh = pooled[(pooled["method"] == "MH") & (pooled["measure"] == "RR")].iloc[0]
    mine = edges[edges["output_id"] == mh["pooled_id"]]
    pool = mine[mine["step"] == "pool"]
    assert len(pool) == 7
    s02 = pool[pool["study_id"] == "S02"]["transformation"].iloc[0]
    assert "Mantel-Haenszel RR (common effect; metafor rma.mh" in s02 and "counts 0/25 vs 3/24 (exp vs ctl)" in s02
    assert "weights c*n1/N normalised to 100%" in s02
    excluded = mine[mine["step"] == "exclude"]
    assert list(excluded["study_id"]) == ["S08"] and "no 2x2 counts" in excluded["transformation"].iloc[0]
    # inverse-variance rows keep their text
    reml = pooled[(pooled["method"] == "REML") & (pooled["measure"] == "RR") & (pooled["analysis"] == "main")
                  & (pooled["test"] == "z")].iloc[0]
    text = edges[(edges["output_id"] == reml["pooled_id"]) & (edges["step"] == "pool")]["transformation"].iloc[0]
    assert "inverse-variance weights" in text and "counts" not in text


# ---------------------------------------------------------------- the Gurusamy 2011 example against metafor

GURUSAMY_IDS = {"Control/Placebo": "control_placebo", "Aprotonin": "aprotinin", "Tranexamic acid": "tranexamic_acid",
                "EACA": "eaca", "Antithrombin III": "antithrombin_iii", "rFVIIa": "rfviia",
                "Solvent detergent plasma": "sd_plasma"}   # as tests/r/gurusamy2011_reference.R maps them


def gurusamy_reference() -> dict[str, list[dict]]:
    with open(GURUSAMY_REFERENCE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["comparison"], []).append(row)
    return out


GURUSAMY = gurusamy_reference()


def gurusamy_pool(experimental: str, control: str) -> pd.DataFrame:
    """Pooled rows of one comparison: each trial with both arms as a two-arm study (deaths / n, as printed)."""
    with open(GURUSAMY_SOURCE, newline="") as fh:
        data = [{**r, "id": GURUSAMY_IDS[r["treatment"]]} for r in csv.DictReader(fh)]
    studies = []
    for study in dict.fromkeys(r["study"] for r in data):
        arms = {r["id"]: r for r in data if r["study"] == study}
        if experimental in arms and control in arms:
            e, c = arms[experimental], arms[control]
            studies.append(events_study(study.replace(" ", ""), int(e["death"]), int(e["n"]), int(c["death"]), int(c["n"])))
    return pipeline(*collect(studies))[1]


def _number(text: str) -> float:
    return math.nan if text in ("", "NA") else float(text)


@pytest.mark.parametrize("comparison", sorted(GURUSAMY))
def test_gurusamy2011_mh_peto_and_inverse_variance_rows_equal_metafor(comparison):
    reference = GURUSAMY[comparison]
    pooled = gurusamy_pool(reference[0]["experimental"], reference[0]["control"])
    main = pooled[pooled["analysis"] == "main"]
    picks = {"MH_RR": ("MH", "RR", "z"), "MH_OR": ("MH", "OR", "z"), "MH_RD": ("MH", "RD", "z"),
             "Peto_OR": ("Peto", "OR", "z"), "REML_RR": ("REML", "RR", "z"), "DL_RR": ("DL", "RR", "z")}
    for ref in reference:
        method, measure, test = picks[ref["method"]]
        k = int(ref["k"])
        if k == 1 and method in ("REML", "DL"):   # k = 1: one unpooled inverse-variance row stands for every estimator
            rows = main[(main["measure"] == measure) & ~main["method"].isin(["MH", "Peto"])]
        else:
            rows = main[(main["method"] == method) & (main["measure"] == measure) & (main["test"] == test)]
        assert len(rows) == 1, (comparison, ref["method"])
        row = rows.iloc[0]
        assert row["k"] == k, (comparison, ref["method"])
        tol = 1e-4 if method == "REML" else 1e-6
        what = (comparison, ref["method"])
        for ours, theirs in [("estimate", "estimate"), ("se", "se"), ("statistic", "zval"), ("pval", "pval"),
                             ("ci_lb", "ci.lb"), ("ci_ub", "ci.ub")]:
            close(row[ours], _number(ref[theirs]), tol, what + (ours,))
        estimable = not math.isnan(_number(ref["estimate"]))
        pooled_iv = method in ("MH", "Peto") or k > 1     # a k = 1 inverse-variance row reports no heterogeneity
        if estimable and pooled_iv:
            for ours, theirs in [("Q", "QE"), ("Q_p", "QEp"), ("I2", "I2")]:
                close(row[ours], _number(ref[theirs]), tol, what + (ours,))
        if method in ("REML", "DL") and k > 1:
            close(row["tau2"], _number(ref["tau2"]), tol, what + ("tau2",))


# ---------------------------------------------------------------- test for subgroup differences

def subgroup_frames():
    return collect(md_study(r, source=r["group"]) for r in table("subgroups"))


@pytest.mark.parametrize("test", ["z", "knha"])
def test_subgroup_difference_test_equals_metafor_moderator_test(test):
    settings = Settings.from_config({"longest_follow_up": False, "default_test": test})
    _, pooled = pipeline(*subgroup_frames(), settings)
    rows = pooled[(pooled["analysis"] == "subgroup") & (pooled["measure"] == "MD")]
    assert set(rows["subgroup_variable"]) == {"cell_source"} and len(rows) == 3
    ref = REFERENCE[f"subgroup/{test}"]
    for row in rows.to_dict("records"):                       # the same test on every level's row
        close(row["subgroup_q"], ref["QM"], 1e-4, "QM")
        close(row["subgroup_p"], ref["QM_p"], 1e-4, "QM_p")
        assert row["subgroup_df"] == ref["QM_df"] == 2
        assert "mods = ~ factor(cell_source)" in row["subgroup_test"] and f'test = "{test}"' in row["subgroup_test"]
        assert ("F(2, 5)" if test == "knha" else "chi-squared with 2 df") in row["subgroup_test"]
    others = pooled[pooled["analysis"] != "subgroup"]
    assert others["subgroup_q"].isna().all() and others["subgroup_test"].isna().all()


def test_subgroup_test_that_cannot_be_fitted_says_why():
    # three studies in three subgroups: no residual df for tau^2 (metafor refuses too)
    rows = table("subgroups")
    studies = [md_study(rows[i], source=rows[i]["group"]) for i in (0, 3, 6)]
    _, pooled = pipeline(*collect(studies))
    sub = pooled[(pooled["analysis"] == "subgroup") & (pooled["measure"] == "MD")]
    assert len(sub) == 3 and sub["subgroup_q"].isna().all()
    assert sub["subgroup_test"].str.startswith("not computed").all()


def test_subgroup_forest_footer_and_report_show_the_test():
    comparisons, pooled = pipeline(*subgroup_frames())
    settings = WINDOWS_ONLY
    specs = forest_specs(pooled, comparisons, {"default_method": settings.default_method,
                                               "default_test": settings.default_test, "windows": []},
                         measures=["MD"], across_windows_outcomes=[], across_windows_measure="RR", max_rows=80)
    subgroup = next(s for s in specs if s.kind == "subgroup")
    text = subgroup_difference_text(subgroup)
    q = pooled[pooled["analysis"] == "subgroup"]["subgroup_q"].iloc[0]
    assert text.startswith(f"Test for subgroup differences: Q_M = {q:.2f}, df = 2, p = 0.04")
    assert subgroup_difference_text(next(s for s in specs if s.kind == "main")) is None
    figure = draw_forest(subgroup)
    assert text in [t.get_text() for t in figure.texts]
    html = diagnostics_section(pooled, None, {"default_method": "REML", "default_test": "z", "small_study_min_k": 10,
                                              "small_study_tests": ["regtest", "trimfill"], "event_methods": ["MH", "Peto"]})
    assert "cell_source" in html and f"{q:.2f} (df 2)" in html and "bone_marrow (k = 3)" in html
    assert "not assessed" in html


# ---------------------------------------------------------------- small-study tests

def small_frames(k: int):
    return collect(md_study(r) for r in table("small_study")[:k])


def test_regression_test_and_trim_and_fill_equal_metafor_on_twelve_studies():
    settings = WINDOWS_ONLY
    comparisons, pooled = pipeline(*small_frames(12), settings)
    small = small_study_table(comparisons, pooled, settings)
    assert set(small["measure"]) == {"MD", "SMD"}
    row = small[small["measure"] == "MD"].iloc[0]
    main = pooled[(pooled["analysis"] == "main") & (pooled["method"] == "REML") & (pooled["test"] == "z")
                  & (pooled["measure"] == "MD")].iloc[0]
    assert row["pooled_id"] == main["pooled_id"] and row["k"] == 12 and row["method"] == "REML"
    assert row["observed_estimate"] == main["estimate"]
    reg, tf = REFERENCE["regtest"], REFERENCE["trimfill"]
    assert row["regtest_model"] == "rma" and row["regtest_predictor"] == "sei" and row["regtest_test"] == "z"
    for ours, theirs in [("statistic", "statistic"), ("pval", "pval"), ("limit_estimate", "limit_estimate"),
                         ("limit_ci_lb", "limit_ci_lb"), ("limit_ci_ub", "limit_ci_ub")]:
        close(row[f"regtest_{ours}"], reg[theirs], 1e-4, ours)
    assert math.isnan(row["regtest_df"])
    assert row["trimfill_estimator"] == "L0" and row["trimfill_side"] == tf["side"] == "left"
    assert row["trimfill_k0"] == tf["k0"] == 5 and len(row["trimfill_yi_filled"]) == 5
    for name in ("k0_se", "estimate", "se", "ci_lb", "ci_ub", "tau2"):
        close(row[f"trimfill_{name}"], tf[name], 1e-4, name)
    assert pd.isna(row["trimfill_ratio_estimate"])                     # MD: no ratio scale
    assert "regtest" in row["note"] and "trimfill" in row["note"]


def test_nine_studies_get_no_small_study_row():
    settings = WINDOWS_ONLY
    comparisons, pooled = pipeline(*small_frames(9), settings)
    assert (pooled[pooled["analysis"] == "main"]["k"] == 9).all()
    small = small_study_table(comparisons, pooled, settings)
    assert small.empty and list(small.columns) == SMALL_STUDY_TESTS.names
    html = diagnostics_section(pooled, small, {"default_method": "REML", "default_test": "z", "small_study_min_k": 10,
                                               "small_study_tests": ["regtest", "trimfill"], "event_methods": []})
    main = pooled[(pooled["analysis"] == "main") & (pooled["method"] == "REML") & (pooled["test"] == "z")]
    assert f"{len(main)} of {len(main)} main analyses have fewer than 10 studies and are not assessed" in html
    # and small_study_min_k moves the threshold; small_study_tests: [] turns the table off
    nine = Settings.from_config({"longest_follow_up": False, "small_study_min_k": 9})
    assert len(small_study_table(comparisons, pooled, nine)) == 2
    assert small_study_table(comparisons, pooled, Settings.from_config({"longest_follow_up": False, "small_study_min_k": 9,
                                                                         "small_study_tests": []})).empty
    only_regtest = small_study_table(comparisons, pooled, Settings.from_config({"longest_follow_up": False, "small_study_min_k": 9,
                                                                                 "small_study_tests": ["regtest"]}))
    assert only_regtest["trimfill_k0"].isna().all() and only_regtest["regtest_pval"].notna().all()


def test_synthesize_writes_the_small_study_table_when_asked(tmp_path):
    records, chars = small_frames(12)
    harmonized, characteristics = tmp_path / "h.parquet", tmp_path / "c.parquet"
    pq.write_table(to_table(records, HARMONIZED), harmonized)
    pq.write_table(to_table(chars, CHARACTERISTICS), characteristics)
    names = ("comparisons", "windows", "pooled", "comparators", "unmatched", "small_study_tests")
    outputs = {name: tmp_path / f"{name}.parquet" for name in names}
    synthesize(harmonized, characteristics, ROOT / "resources" / "registry" / "outcomes.yaml",
               {"longest_follow_up": False}, outputs)
    written = pq.read_table(outputs["small_study_tests"])
    assert written.schema.remove_metadata().equals(SMALL_STUDY_TESTS.remove_metadata())
    assert written.num_rows == 2 and all(f.metadata[b"description"] for f in written.schema)
    pooled = pq.read_table(outputs["pooled"])
    assert {"subgroup_q", "subgroup_df", "subgroup_p", "subgroup_test"} <= set(pooled.schema.names)
    assert pooled.schema.remove_metadata().equals(POOLED.remove_metadata())


def test_every_pooled_column_is_either_identity_or_result():
    # event rows copy the identity columns of the main row and fill the results themselves
    assert RESULT_COLUMNS <= set(POOLED.names)
    assert {"outcome", "window", "measure", "design", "basis", "analysis"}.isdisjoint(RESULT_COLUMNS)


# ---------------------------------------------------------------- the reference is metafor's

def test_live_metafor_run_reproduces_the_committed_results(tmp_path):
    reason = metafor_missing()
    if reason:
        pytest.skip(reason)
    subprocess.run(["Rscript", str(R_SCRIPT), str(tmp_path)], check=True, capture_output=True, text=True)
    live = read_results(tmp_path / "results.csv")
    assert set(live) == set(REFERENCE)
    for case, values in REFERENCE.items():
        for quantity, value in values.items():
            if isinstance(value, str):
                assert live[case][quantity] == value, (case, quantity)
            else:
                close(live[case][quantity], value, 1e-10, (case, quantity))
