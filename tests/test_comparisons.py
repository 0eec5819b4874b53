"""Declared comparisons (config ``comparisons``): arms matched to sides by intervention and class, multi-arm trials
(Cochrane Handbook 23.3.4), reported contrasts matched by their arms, the longest follow-up analysis, studies in no
comparison, and a run with nothing to pool. Constructed data; the expected numbers are worked out by hand here.

The slow tests at the end run the workflow: on the shipped corpus (no pooled row mixes interventions; G-CSF
trials never enter a cell-therapy pool; mortality at longest follow-up) and on a one-study corpus that matches no
comparison (the run succeeds and the report says why nothing is pooled)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import ROOT, minimal_meta, row, write_study
from test_synthesis import MONTH, char, frames, rec

from livertrials.io.registry import load_registry
from livertrials.synthesis.comparisons import build_comparisons
from livertrials.synthesis.matching import resolve_comparisons, unmatched_table
from livertrials.synthesis.pooling import pool_comparisons
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP, Comparison, ComparisonSide, Settings
from livertrials.synthesis.windows import window_report

BB, SCL, CTL = ("beta_blocker", "drug"), ("sclerotherapy", "endoscopic"), ("no_treatment", "control")
EACH = [{"id": "bb_vs_control", "label": "Beta-blockers vs control", "experimental": {"interventions": ["beta_blocker"]},
         "control": {"classes": ["control"]}},
        {"id": "scl_vs_control", "label": "Sclerotherapy vs control", "experimental": {"interventions": ["sclerotherapy"]},
         "control": {"classes": ["control"]}}]
ANY = [{"id": "active_vs_control", "label": "Any active treatment vs control",
        "experimental": {"interventions": ["beta_blocker", "sclerotherapy"]}, "control": {"classes": ["control"]}}]


def settings(comparisons, **synthesis) -> Settings:
    return Settings.from_config({"longest_follow_up": False, **synthesis}, comparisons)


def three_arm(study="Pagliaro", *, kind="events"):
    """A beta-blocker / sclerotherapy / control trial: bleeding 5/40, 6/45 and 13/41; or a continuous outcome."""
    numbers = {"bb": (BB, 40, 5, 10.0, 2.0), "scl": (SCL, 45, 6, 12.0, 3.0), "ctl": (CTL, 41, 13, 9.0, 2.5)}
    records, chars = [], []
    for arm, (received, n, events, mean, sd) in numbers.items():
        role = "control" if arm == "ctl" else "intervention"
        if kind == "events":
            records.append(rec(study, arm, role, outcome="death", kind="events", n=n, events=events, total=n,
                               unit="patients", received=received))
        else:
            records.append(rec(study, arm, role, n=n, mean=mean, sd=sd, received=received))
        chars.append(char(study, arm, role, received=received))
    return records, chars


def comparisons_of(records, chars, config, **synthesis):
    return build_comparisons(*frames(records, chars), settings(config, **synthesis))[0]


# ---------------------------------------------------------------- multi-arm trials

def test_three_arm_trial_gives_each_comparison_once_with_its_control_once():
    rows = comparisons_of(*three_arm(), EACH)
    rr = rows[rows["measure"] == "RR"].set_index("comparison")
    assert sorted(rr.index) == ["bb_vs_control", "scl_vs_control"]
    assert list(rr.at["bb_vs_control", "arms_1"]) == ["bb"] and list(rr.at["bb_vs_control", "arms_2"]) == ["ctl"]
    assert list(rr.at["scl_vs_control", "arms_1"]) == ["scl"] and list(rr.at["scl_vs_control", "arms_2"]) == ["ctl"]
    assert (rr.at["bb_vs_control", "events_1"], rr.at["bb_vs_control", "total_1"]) == (5, 40)
    assert (rr.at["scl_vs_control", "events_2"], rr.at["scl_vs_control", "total_2"]) == (13, 41)
    assert rr.at["bb_vs_control", "yi"] == pytest.approx(math.log((5 / 40) / (13 / 41)), abs=1e-12)
    assert not rr["note"].str.contains("combined").any()
    # within one comparison the trial (and so its control) enters a pool once
    pooled = pool_comparisons(rows, settings(EACH))
    for _, pool in pooled[pooled["analysis"] == "main"].iterrows():
        assert list(pool["study_ids"]) == ["Pagliaro"]


def test_three_arm_trial_with_both_active_arms_on_one_side_combines_them_by_hand():
    events = comparisons_of(*three_arm(), ANY)
    rr = events[events["measure"] == "RR"]
    assert len(rr) == 1
    rr = rr.iloc[0]
    assert (rr["events_1"], rr["total_1"], rr["events_2"], rr["total_2"]) == (11, 85, 13, 41)   # 5 + 6 of 40 + 45
    assert rr["yi"] == pytest.approx(math.log((11 / 85) / (13 / 41)), abs=1e-12)
    assert "bb + scl combined into one group (Cochrane Handbook 23.3.4)" in rr["note"]

    md = comparisons_of(*three_arm(kind="continuous"), ANY)
    md = md[md["measure"] == "MD"].iloc[0]
    n1, m1, s1, n2, m2, s2 = 40, 10.0, 2.0, 45, 12.0, 3.0       # Cochrane Handbook 23.3.4, written out
    n = n1 + n2
    mean = (n1 * m1 + n2 * m2) / n
    sd = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2 + n1 * n2 / (n1 + n2) * (m1**2 + m2**2 - 2 * m1 * m2)) / (n - 1))
    assert (n, round(mean, 6), round(sd, 6)) == (85, 11.058824, 2.753149)
    assert md["n_1"] == n and md["mean_1"] == pytest.approx(mean, abs=1e-12) and md["sd_1"] == pytest.approx(sd, abs=1e-12)
    assert md["yi"] == pytest.approx(mean - 9.0, abs=1e-12)
    assert md["vi"] == pytest.approx(sd**2 / n + 2.5**2 / 41, abs=1e-12)


def test_an_arm_named_by_id_goes_to_that_side_before_its_class():
    both = Comparison("msc_vs_other_cells", "BM-MSC vs other cell therapy", ComparisonSide(interventions=("bm_msc",)),
                      ComparisonSide(classes=("cell_therapy",)))
    assert both.side_of("bm_msc", "cell_therapy") == 1
    assert both.side_of("uc_msc", "cell_therapy") == 2
    assert both.side_of("gcsf", "mobilisation") is None
    with pytest.raises(ValueError, match="on both sides"):
        settings([{"id": "x", "label": "x", "experimental": {"classes": ["control"]}, "control": {"classes": ["control"]}}])
    with pytest.raises(ValueError, match="more than once"):
        settings(EACH + EACH[:1])


# ---------------------------------------------------------------- no pool mixes interventions

def _two_arm(study, received, m1, m2, *, days=3 * MONTH, tp="month 3"):
    records = [rec(study, "active", "intervention", n=20, mean=m1, sd=4.0, received=received, tp=tp, days=days),
               rec(study, "control", "control", n=20, mean=m2, sd=4.0, tp=tp, days=days)]
    chars = [char(study, "active", "intervention", received=received), char(study, "control", "control")]
    return records, chars


def test_gcsf_trials_never_enter_a_cell_therapy_pool():
    records, chars = [], []
    for study, received, m1 in (("Cells1", ("bm_msc", "cell_therapy"), 33.0), ("Cells2", ("uc_msc", "cell_therapy"), 32.0),
                                ("Gcsf1", ("gcsf", "mobilisation"), 30.0), ("Gcsf2", ("gcsf_epo", "mobilisation"), 31.0)):
        r, c = _two_arm(study, received, m1, 29.0)
        records += r
        chars += c
    default = Settings.from_config({"longest_follow_up": False})
    pooled = pool_comparisons(build_comparisons(*frames(records, chars), default)[0], default)
    main = pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "MD") & (pooled["method"] == "REML")
                  & (pooled["test"] == "z")].set_index("comparison")
    assert sorted(main.at["cell_vs_control", "study_ids"]) == ["Cells1", "Cells2"]
    assert sorted(main.at["gcsf_vs_control", "study_ids"]) == ["Gcsf1", "Gcsf2"]
    assert "cell_vs_gcsf" not in main.index                  # no trial has both
    assert len(set(pooled["pooled_id"])) == len(pooled)     # the comparison is part of the pooled id


# ---------------------------------------------------------------- reported contrasts

def test_reported_contrasts_are_matched_by_their_arms_and_turned_round_when_printed_the_other_way():
    def study(name, arms_1, arms_2):
        records = [rec(name, "x", "contrast", outcome="survival", kind="events", quantity="ratio", effect_measure="HR",
                       estimate=0.5, lo=0.25, hi=1.0, unit="HR", arms_1=arms_1, arms_2=arms_2, tp="month 12", days=365.25)]
        return records, [char(name, "cells", "intervention"), char(name, "control", "control")]

    records, chars = [], []
    for name, arms_1, arms_2 in (("Printed", ["cells"], ["control"]), ("Reversed", ["control"], ["cells"]),
                                 ("NoControl", ["cells"], []), ("SameSide", ["cells"], ["cells"])):
        r, c = study(name, arms_1, arms_2)
        records += r
        chars += c
    comparisons, reasons = build_comparisons(*frames(records, chars), settings(None))
    rows = comparisons.set_index("study_id")
    assert sorted(rows.index) == ["Printed", "Reversed"] and set(rows["comparison"]) == {"cell_vs_control"}
    assert rows.at["Printed", "yi"] == pytest.approx(math.log(0.5), abs=1e-12)
    assert rows.at["Reversed", "yi"] == pytest.approx(-math.log(0.5), abs=1e-12)
    assert "reversed" in rows.at["Reversed", "note"] and list(rows.at["Reversed", "arms_1"]) == ["cells"]
    assert "names no comparator arm" in reasons[("NoControl", "survival", "month 12")]
    assert "no declared comparison has its arms on opposite sides" in reasons[("SameSide", "survival", "month 12")]


# ---------------------------------------------------------------- studies in no comparison

def test_studies_and_arms_in_no_comparison_are_listed_with_the_reason():
    chars = [char("PE", "pe", "intervention", received=("plasma_exchange", "other_treatment")),
             char("PE", "smt", "control"),
             char("Mixed", "cells", "intervention"), char("Mixed", "control", "control"),
             char("Mixed", "pe", "active_comparator", received=("plasma_exchange", "other_treatment")),
             char("Matched", "cells", "intervention"), char("Matched", "control", "control"),
             char("Matched", "all", "all")]
    frame = unmatched_table(frames([], chars)[1], Settings.default()).set_index("study_id")
    assert sorted(frame.index) == ["Mixed", "PE"]
    assert frame.at["PE", "status"] == "study in no comparison"
    assert list(frame.at["PE", "arms"]) == ["pe = plasma_exchange (other_treatment)", "smt = standard_care (control)"]
    assert "on the control side only of cell_vs_control, gcsf_vs_control" in frame.at["PE", "reason"]
    assert frame.at["Mixed", "status"] == "arms in no comparison"
    assert list(frame.at["Mixed", "arms"]) == ["pe = plasma_exchange (other_treatment)"]
    nothing = unmatched_table(frames([], chars)[1], settings([]))
    assert set(nothing["study_id"]) == {"PE", "Mixed", "Matched"}
    assert set(nothing["reason"]) == {"no comparison is declared (config comparisons is empty)"}


def test_nothing_to_pool_gives_empty_tables_not_an_error():
    records, chars = _two_arm("PE", ("plasma_exchange", "other_treatment"), 33.0, 29.0)
    h, c = frames(records, chars)
    comparisons, reasons = build_comparisons(h, c, Settings.default())
    assert comparisons.empty
    assert "no declared comparison has one of these arms on each side" in reasons[("PE", "albumin", "month 3")]
    assert pool_comparisons(comparisons, Settings.default()).empty
    report = window_report(h, comparisons, reasons, Settings.default())
    assert set(report["status"]) == {"no comparison"}


# ---------------------------------------------------------------- comparison sides from the registry

def test_side_labels_come_from_the_registry_unless_config_names_them():
    registry = load_registry(ROOT / "resources" / "registry" / "outcomes.yaml")
    resolved = resolve_comparisons(Settings.default(), registry)
    labels = {c.id: (c.experimental.label, c.control.label) for c in resolved.comparisons}
    assert labels["cell_vs_control"] == ("Cell therapy", "Control")
    assert labels["cell_vs_gcsf"] == ("Cell therapy", "Stem-cell mobilisation (G-CSF)")
    named = settings([{"id": "msc", "label": "MSC vs care", "experimental": {"interventions": ["bm_msc", "uc_msc"]},
                       "control": {"interventions": ["standard_care"], "label": "Usual care"}}])
    sides = resolve_comparisons(named, registry).comparisons[0]
    assert sides.experimental.label == ("Bone-marrow mesenchymal stem cells or Umbilical-cord mesenchymal stem cells")
    assert sides.control.label == "Usual care"
    with pytest.raises(ValueError, match="beta_blocker not in"):
        resolve_comparisons(settings(EACH), registry)


# ---------------------------------------------------------------- longest follow-up

def _survival(study, tp, days, alive, n=20, *, tkind="point", control_alive=10):
    return [rec(study, "cells", "intervention", outcome="survival", kind="events", n=n, events=alive, total=n,
                unit="patients", tp=tp, days=days, tkind=tkind),
            rec(study, "control", "control", outcome="survival", kind="events", n=n, events=control_alive, total=n,
                unit="patients", tp=tp, days=days, tkind=tkind)]


def test_longest_follow_up_takes_each_studys_latest_timepoint_and_a_not_stated_one_only_when_alone():
    records = (_survival("Early", "month 3", 3 * MONTH, 18) + _survival("Early", "year 2", 730.5, 14)
               + _survival("Early", "end of follow-up", None, 12, tkind="not_stated")      # a stated one exists
               + _survival("Unstated", "end of follow-up", None, 15, tkind="not_stated")
               + _survival("Single", "week 24", 168.0, 16))
    chars = [char(s, arm, role) for s in ("Early", "Unstated", "Single")
             for arm, role in (("cells", "intervention"), ("control", "control"))]
    h, c = frames(records, chars)
    comparisons, reasons = build_comparisons(h, c, Settings.default())
    rr = comparisons[(comparisons["measure"] == "RR") & (comparisons["comparison"] == "cell_vs_control")]
    longest = rr[rr["window"] == LONGEST_FOLLOW_UP].set_index("study_id")
    assert sorted(longest.index) == ["Early", "Single", "Unstated"]
    assert longest.at["Early", "timepoint_text"] == "year 2"
    assert longest.at["Single", "timepoint_text"] == "week 24"
    assert longest.at["Unstated", "timepoint_text"] == "end of follow-up"
    assert "timepoint_not_stated" in longest.at["Unstated", "flags"]
    assert "timepoint not stated" in longest.at["Unstated", "assignment"]
    assert longest["used"].all() and longest.index.is_unique
    # the window pools keep their own rows: the not-stated timepoint is in no window
    windowed = rr[rr["window"] != LONGEST_FOLLOW_UP]
    assert not windowed[windowed["timepoint_text"] == "end of follow-up"]["used"].any()
    pooled = pool_comparisons(comparisons, Settings.default())
    main = pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "RR") & (pooled["method"] == "REML")
                  & (pooled["test"] == "z") & (pooled["comparison"] == "cell_vs_control")]
    assert main["window"].tolist()[-1] == LONGEST_FOLLOW_UP                     # read after every window
    assert main.set_index("window").at[LONGEST_FOLLOW_UP, "k"] == 3
    report = window_report(h, comparisons, reasons, Settings.default()).set_index(["study_id", "timepoint_text"])
    assert report.at[("Unstated", "end of follow-up"), "status"] == "used"
    assert report.at[("Unstated", "end of follow-up"), "note"] == "longest follow-up analysis only"
    assert report.at[("Early", "year 2"), "note"] == "also the study's longest follow-up"
    off = build_comparisons(h, c, Settings.from_config({"longest_follow_up": False}))[0]
    assert LONGEST_FOLLOW_UP not in set(off["window"])


def test_not_stated_assignments_still_work_when_given():
    records = _survival("Unstated", "end of follow-up", None, 15, tkind="not_stated")
    chars = [char("Unstated", "cells", "intervention"), char("Unstated", "control", "control")]
    decided = Settings.from_config({"not_stated_assignments": [{"study_id": "Unstated", "timepoint_text": "end of follow-up",
                                                                "window": "month 6", "reason": "protocol: week 24"}]})
    comparisons = build_comparisons(*frames(records, chars), decided)[0]
    rr = comparisons[(comparisons["measure"] == "RR") & (comparisons["comparison"] == "cell_vs_control")]
    assert set(rr["window"]) == {"month 6", LONGEST_FOLLOW_UP} and rr["used"].all()


# ---------------------------------------------------------------- workflow runs (slow)

def _snakemake(workdir, *targets) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "-c2",
                           *targets], cwd=workdir, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    work = tmp_path_factory.mktemp("shipped")
    for name in ("config", "resources"):
        shutil.copytree(ROOT / name, work / name)
    run = _snakemake(work, "results/synthesis/pooled.parquet")
    assert run.returncode == 0, run.stderr[-3000:]
    return work


@pytest.mark.slow
def test_shipped_corpus_no_pooled_row_mixes_interventions(shipped):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    comparisons = {c["id"]: Settings.from_config(config["synthesis"], config["comparisons"]).comparison(c["id"])
                   for c in config["comparisons"]}
    pooled = pd.read_parquet(shipped / "results/synthesis/pooled.parquet")
    rows = pd.read_parquet(shipped / "results/synthesis/comparisons.parquet").set_index("comparison_id")
    chars = pd.read_parquet(shipped / "results/harmonized/study_characteristics.parquet")
    arms = {(a["study_id"], a["arm_id"]): a for a in chars.to_dict("records")}
    assert set(pooled["comparison"]) == set(comparisons)
    for pool in pooled.to_dict("records"):
        comparison = comparisons[pool["comparison"]]
        for cid in pool["comparison_ids"]:
            row = rows.loc[cid]
            assert row["comparison"] == pool["comparison"]
            sides = (1, 1) if row["design"] == "within_arm" else (1, 2)
            for side, arm_ids in zip(sides, (row["arms_1"], row["arms_2"])):
                for arm_id in arm_ids:
                    arm = arms[(row["study_id"], arm_id)]
                    assert comparison.side_of(arm["intervention"], arm["intervention_class"]) == side, (pool["pooled_id"], arm_id)
    gcsf_trials = set(chars.loc[chars["intervention_class"] == "mobilisation", "study_id"])
    cell_pools = pooled[pooled["comparison"] == "cell_vs_control"]
    in_cell_pools = {s for ids in cell_pools["study_ids"] for s in ids}
    cell_trials = set(chars.loc[chars["intervention_class"] == "cell_therapy", "study_id"])
    assert gcsf_trials and not (in_cell_pools & (gcsf_trials - cell_trials))
    # a trial with both (G-CSF arm and a G-CSF + cells arm) enters cell_vs_control with its cell arm only
    for pool in cell_pools.to_dict("records"):
        for cid in pool["comparison_ids"]:
            row = rows.loc[cid]
            assert all(arms[(row["study_id"], a)]["intervention_class"] != "mobilisation" for a in row["arms_1"])


@pytest.mark.slow
def test_shipped_corpus_mortality_at_longest_follow_up_pools_five_studies(shipped):
    pooled = pd.read_parquet(shipped / "results/synthesis/pooled.parquet")
    death = pooled[(pooled["comparison"] == "cell_vs_control") & (pooled["outcome"] == "death")
                   & (pooled["window"] == LONGEST_FOLLOW_UP) & (pooled["analysis"] == "main")
                   & (pooled["measure"] == "RR") & (pooled["method"] == "REML") & (pooled["test"] == "z")]
    assert len(death) == 1
    assert death.iloc[0]["k"] >= 5, list(death.iloc[0]["study_ids"])


@pytest.mark.slow
def test_a_run_with_nothing_to_pool_succeeds_and_the_report_says_why(tmp_path):
    for name in ("config",):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "resources" / "registry", tmp_path / "resources" / "registry")
    (tmp_path / "resources" / "comparators").mkdir()
    meta = minimal_meta("PlasmaExchange2026")
    meta["arms"][0].update(intervention="plasma_exchange", label="plasma exchange", cell_source="none")
    meta["contrasts"] = []
    write_study(tmp_path / "resources" / "studies" / "PlasmaExchange2026", meta, [
        row("P1", "cells", "week 12", "albumin", "mean", "32.0", "g/L"),
        row("P2", "cells", "week 12", "albumin", "sd", "3.4", "g/L"),
        row("P3", "control", "week 12", "albumin", "mean", "29.0", "g/L"),
        row("P4", "control", "week 12", "albumin", "sd", "3.0", "g/L"),
    ])
    run = _snakemake(tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert pd.read_parquet(tmp_path / "results/synthesis/pooled.parquet").empty
    unmatched = pd.read_parquet(tmp_path / "results/synthesis/unmatched.parquet")
    assert list(unmatched["study_id"]) == ["PlasmaExchange2026"]
    page = (tmp_path / "results/report/index.html").read_text(encoding="utf-8")
    assert "Nothing to pool" in page and "PlasmaExchange2026" in page
    assert "plasma_exchange (other_treatment)" in page
