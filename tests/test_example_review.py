"""The second, real review (examples/gurusamy2011, metafor's dat.gurusamy2011) run end to end from its own data
folder, with each declared comparison's pools checked against metafor on the same tables to 1e-6: REML and DL
random effects on log RR, Mantel-Haenszel RR, OR and RD, and Peto OR (tests/data/gurusamy2011_metafor.csv,
written by tests/r/gurusamy2011_reference.R).

Nothing in the code is specific to this review: the comparisons, windows and interventions are its config and
registry. The three-arm Dalmau 2000 gives its one control to two comparisons (once in each) and a head-to-head one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "gurusamy2011"
REFERENCE = ROOT / "tests" / "data" / "gurusamy2011_metafor.csv"
TOLERANCE = 1e-6
# reference column -> pooled.parquet column (log scale); pval, z and CI also on the log scale
NUMBERS = {"estimate": "estimate", "se": "se", "zval": "statistic", "pval": "pval", "ci_lb": "ci_lb", "ci_ub": "ci_ub"}
HETEROGENEITY = {"QE": "Q", "QEp": "Q_p", "I2": "I2", "tau2": "tau2"}   # k >= 2 only: a k = 1 row is not pooled
# inverse-variance random-effects rows of the reference: method name -> our tau^2 estimator
INVERSE_VARIANCE = {"REML_RR": "REML", "DL_RR": "DL"}
# Mantel-Haenszel and Peto rows of the reference: the pooled rows (main analysis) that hold each
MANTEL_HAENSZEL: dict[str, dict] = {"MH_RR": {"method": "MH", "measure": "RR"}, "MH_OR": {"method": "MH", "measure": "OR"},
                                    "MH_RD": {"method": "MH", "measure": "RD"}, "Peto_OR": {"method": "Peto", "measure": "OR"}}


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    work = tmp_path_factory.mktemp("gurusamy2011")
    shutil.copytree(EXAMPLE, work, dirs_exist_ok=True)
    (work / "resources" / "comparators").mkdir(exist_ok=True)    # kept by .gitkeep in the repository
    shutil.rmtree(work / "results", ignore_errors=True)
    run = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work), "-c2"],
                         cwd=work, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return work


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(REFERENCE).rename(columns=lambda c: c.replace(".", "_"))   # ci.lb -> ci_lb, for itertuples


def _study_ids(text: str) -> list[str]:
    return sorted(s.replace(" ", "") for s in text.split("; "))


def _check(ours: pd.Series, ref, columns: dict) -> None:
    for theirs, mine in columns.items():
        expected, got = getattr(ref, theirs), ours[mine]
        if pd.isna(expected):
            assert pd.isna(got), (ref.comparison, ref.method, mine, got)
            continue
        assert abs(got - expected) <= TOLERANCE * max(1.0, abs(expected)), (ref.comparison, ref.method, mine, got, expected)


def test_every_declared_comparison_is_pooled_over_its_own_trials(review, reference):
    config = yaml.safe_load((EXAMPLE / "config" / "config.yaml").read_text())
    pooled = pd.read_parquet(review / "results/synthesis/pooled.parquet")
    assert set(pooled["comparison"]) == {c["id"] for c in config["comparisons"]} == set(reference["comparison"])
    main = pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "RR")]
    for comparison, group in reference.groupby("comparison"):
        mine = main[main["comparison"] == comparison]
        assert {tuple(sorted(ids)) for ids in mine["study_ids"]} == {tuple(_study_ids(group["studies"].iloc[0]))}


def test_three_arm_trial_gives_its_control_once_to_each_comparison(review):
    comparisons = pd.read_parquet(review / "results/synthesis/comparisons.parquet")
    dalmau = comparisons[(comparisons["study_id"] == "Dalmau2000") & (comparisons["measure"] == "RR")]
    sides = {c: (list(a1), list(a2)) for c, a1, a2 in zip(dalmau["comparison"], dalmau["arms_1"], dalmau["arms_2"])}
    assert sides == {"tranexamic_acid_vs_control": (["tranexamic_acid"], ["control_placebo"]),
                     "eaca_vs_control": (["eaca"], ["control_placebo"]),
                     "tranexamic_acid_vs_eaca": (["tranexamic_acid"], ["eaca"])}


def test_inverse_variance_risk_ratio_pools_agree_with_metafor(review, reference):
    pooled = pd.read_parquet(review / "results/synthesis/pooled.parquet")
    main = pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "RR") & (pooled["test"] == "z")]
    checked = 0
    for ref in reference[reference["method"].isin(list(INVERSE_VARIANCE))].itertuples():
        inverse_variance = ~main["method"].isin([m["method"] for m in MANTEL_HAENSZEL.values()])
        rows = main[(main["comparison"] == ref.comparison) & inverse_variance
                    & ((main["method"] == INVERSE_VARIANCE[ref.method]) | (main["k"] == 1))]   # k = 1: one row
        assert len(rows) == 1, (ref.comparison, ref.method)
        ours = rows.iloc[0]
        assert ours["k"] == ref.k and sorted(ours["study_ids"]) == _study_ids(ref.studies)
        _check(ours, ref, NUMBERS)
        if ref.k >= 2:
            _check(ours, ref, HETEROGENEITY)
        assert np.isclose(ours["ratio_estimate"], np.exp(ref.estimate), rtol=TOLERANCE)
        checked += 1
    assert checked == 2 * reference["comparison"].nunique() == 16


def test_mantel_haenszel_and_peto_pools_agree_with_metafor(review, reference):
    pooled = pd.read_parquet(review / "results/synthesis/pooled.parquet")
    main = pooled[pooled["analysis"] == "main"]
    checked = 0
    for ref in reference[reference["method"].isin(list(MANTEL_HAENSZEL))].itertuples():
        select = MANTEL_HAENSZEL[ref.method]
        rows = main[(main["comparison"] == ref.comparison)
                    & np.logical_and.reduce([main[c] == v for c, v in select.items()])]
        assert len(rows) == 1, (ref.comparison, ref.method)
        ours = rows.iloc[0]
        assert ours["k"] == ref.k and sorted(ours["study_ids"]) == _study_ids(ref.studies)
        _check(ours, ref, NUMBERS)
        checked += 1
    assert checked == 4 * reference["comparison"].nunique() == 32


def test_the_report_shows_each_comparison(review):
    page = (review / "results/report/index.html").read_text(encoding="utf-8")
    config = yaml.safe_load((EXAMPLE / "config" / "config.yaml").read_text())
    for comparison in config["comparisons"]:
        assert f"<h3>{comparison['label']}</h3>" in page, comparison["label"]
    manifest = yaml.safe_load((review / "results/forest/index.json").read_text())
    favours = {(e["comparison"], tuple(e["favours"])) for e in manifest["forests"] if e["measure"] == "RR"}
    assert ("aprotinin_vs_tranexamic_acid", ("Favours Aprotinin", "Favours Tranexamic acid")) in favours   # death: lower is better
    assert not any("cell" in " ".join(f).lower() for _, f in favours)
