"""Harmonization of small crafted studies: units, statistic conversions, counts, flags, provenance."""

import pytest
from conftest import minimal_meta, row, write_study

from livertrials.harmonize.records import harmonize_study
from livertrials.io.extraction import load_study
from livertrials.validate.study import validate_study


def harmonized(tmp_path, registry, rows, meta=None):
    study = load_study(write_study(tmp_path / "T1", meta or minimal_meta("T1"), rows))
    errors = [i for i in validate_study(study, registry) if i.severity == "error"]
    assert not errors, [str(e) for e in errors]
    return {(r["arm_id"], r["timepoint_text"], r["outcome"]): r for r in harmonize_study(study, registry)}


def test_gdl_albumin_becomes_gl_with_factor_recorded(tmp_path, registry):
    out = harmonized(tmp_path, registry, [
        row("R1", "cells", "week 4", "albumin", "mean", "3.1", "g/dl"),
        row("R2", "cells", "week 4", "albumin", "sd", "0.4", "g/dl"),
    ])
    rec = out[("cells", "week 4", "albumin")]
    assert rec["mean"] == pytest.approx(31.0) and rec["sd"] == pytest.approx(4.0)
    assert rec["unit"] == "g/L" and rec["unit_printed"] == "g/dL" and rec["unit_factor"] == 10
    assert rec["source_row_ids"] == ["R1", "R2"]
    assert rec["method"] == "mean and SD as reported"
    assert rec["timepoint_days"] == 28.0


def test_bilirubin_mg_dl_to_umol(tmp_path, registry):
    out = harmonized(tmp_path, registry, [row("R1", "control", "baseline", "total_bilirubin", "mean", "2.0", "mg/dL")])
    assert out[("control", "baseline", "bilirubin")]["mean"] == pytest.approx(34.2)  # 2 x 17.1


def test_median_iqr_converted_by_luo_wan(tmp_path, registry):
    # metafor conv.fivenum docs, n = 20: (q1 4, median 6, q3 10) -> mean 6.719500, SD 4.787076
    out = harmonized(tmp_path, registry, [
        row("R1", "cells", "week 12", "ALT", "median", "6", "U/L"),
        row("R2", "cells", "week 12", "ALT", "q1", "4", "U/L"),
        row("R3", "cells", "week 12", "ALT", "q3", "10", "U/L"),
    ])
    rec = out[("cells", "week 12", "alt")]
    assert rec["mean"] == pytest.approx(6.719500, abs=1e-6)
    assert rec["sd"] == pytest.approx(4.787076, abs=1e-6)
    assert "Luo 2018" in rec["method"] and "mean_sd_estimated_from_quantiles" in rec["flags"]
    assert rec["median"] == 6 and rec["q1"] == 4 and rec["q3"] == 10


def test_sd_from_se(tmp_path, registry):
    out = harmonized(tmp_path, registry, [
        row("R1", "cells", "week 4", "MELD", "mean", "15", "points"),
        row("R2", "cells", "week 4", "MELD", "se", "1.0", "points"),
    ])
    rec = out[("cells", "week 4", "meld")]
    assert rec["sd"] == pytest.approx(20 ** 0.5)  # SE x sqrt(n), n = 20
    assert "meld_variant_not_stated" in rec["flags"]


def test_percentage_with_denominator_becomes_count(tmp_path, registry):
    out = harmonized(tmp_path, registry, [row("R1", "cells", "week 24", "cumulative_survival", "proportion", "73.2", "%",
                                              quote="cumulative survival rates (Kaplan-Meier)")])
    rec = out[("cells", "week 24", "survival")]
    assert rec["events_exact"] == pytest.approx(14.64) and rec["events"] == 15 and rec["total"] == 20
    assert {"count_from_percentage", "km_estimate"} <= set(rec["flags"])


def test_inconsistent_percentage_is_flagged_not_fixed(tmp_path, registry):
    # like Spahr2013: "18 (53%)" with 30 patients (18/30 = 60%)
    meta = minimal_meta("T1", n_control=30)
    out = harmonized(tmp_path, registry, [
        row("R1", "control", "month 3", "MELD_decrease_ge3", "count", "18", "patients"),
        row("R2", "control", "month 3", "MELD_decrease_ge3", "proportion", "53", "%"),
    ], meta)
    rec = out[("control", "month 3", "meld_decrease_ge3")]
    assert rec["events"] == 18 and rec["total"] == 30
    assert "inconsistent_percentage" in rec["flags"]


def test_presumed_unit_is_used_and_flagged(tmp_path, registry):
    out = harmonized(tmp_path, registry, [row("R1", "cells", "baseline", "albumin", "mean", "30.1", "", unit_presumed="g/L",
                                              note="not printed (presumably g/L)")])
    rec = out[("cells", "baseline", "albumin")]
    assert rec["mean"] == pytest.approx(30.1) and "unit_presumed" in rec["flags"]


def test_contrast_effect_with_ci(tmp_path, registry):
    out = harmonized(tmp_path, registry, [
        row("R1", "cells_vs_control", "month 3", "MELD", "mean_difference", "-1.22", "points"),
        row("R2", "cells_vs_control", "month 3", "MELD", "ci95_lower", "-2.36", "points"),
        row("R3", "cells_vs_control", "month 3", "MELD", "ci95_upper", "-0.08", "points"),
    ])
    rec = out[("cells_vs_control", "month 3", "meld")]
    assert rec["is_contrast"] and rec["effect_measure"] == "MD"
    assert (rec["estimate"], rec["ci_lower"], rec["ci_upper"]) == (-1.22, -2.36, -0.08)


def test_p_value_kept_as_printed(tmp_path, registry):
    out = harmonized(tmp_path, registry, [row("R1", "cells_vs_control", "week 4", "albumin", "p_value", "<0.05", "")])
    assert out[("cells_vs_control", "week 4", "albumin")]["p_value"] == "<0.05"


def test_unconvertible_unit_is_kept_and_flagged(tmp_path, registry):
    out = harmonized(tmp_path, registry, [row("R1", "cells", "week 4", "ALT", "mean", "1.5", "folds of ULN")])
    rec = out[("cells", "week 4", "alt")]
    assert rec["unit"] == "folds of ULN" and rec["mean"] == 1.5 and "unit_not_convertible" in rec["flags"]


def test_record_ids_are_stable_and_unique(tmp_path, registry):
    rows = [row("R1", "cells", "week 4", "albumin", "mean", "31", "g/L"), row("R2", "control", "week 4", "albumin", "mean", "30", "g/L")]
    first = harmonized(tmp_path, registry, rows)
    second = harmonized(tmp_path, registry, rows)
    assert [r["record_id"] for r in first.values()] == [r["record_id"] for r in second.values()]
    assert len({r["record_id"] for r in first.values()}) == 2


def test_meld_at_mean_labs_is_a_flagged_approximation_beside_reported_meld(tmp_path, registry):
    # Kharaziha2009 baseline: bilirubin 46 umol/L, INR 1.9, creatinine 114 umol/L, reported MELD 17.9.
    # By hand (OPTN 9.1.D): 0.957 ln(114/88.4) + 0.378 ln(46/17.1) + 1.120 ln(1.9) + 0.643
    #   = 0.2434 + 0.3740 + 0.7189 + 0.643 = 1.979 -> round(1.979, 1) x 10 = 20.
    out = harmonized(tmp_path, registry, [
        row("R1", "cells", "baseline", "total_bilirubin", "mean", "46", "μmol/l"),
        row("R2", "cells", "baseline", "INR", "mean", "1.9", "INR"),
        row("R3", "cells", "baseline", "creatinine", "mean", "114", "μmol/l"),
        row("R4", "cells", "baseline", "MELD", "mean", "17.9", "points"),
    ])
    approx = out[("cells", "baseline", "meld_at_mean_labs")]
    assert approx["mean"] == 20 and approx["meld_variant"] == "UNOS"
    assert {"approximation", "meld_at_mean_labs"} <= set(approx["flags"])
    assert sorted(approx["source_row_ids"]) == ["R1", "R2", "R3"]
    assert out[("cells", "baseline", "meld")]["mean"] == 17.9  # the reported value is untouched


def test_pt_converts_to_inr_only_with_the_studys_isi_and_mnpt(tmp_path, registry):
    rows = [row("R1", "cells", "week 4", "prothrombin_time", "mean", "18", "s"),
            row("R2", "cells", "week 4", "prothrombin_time", "sd", "2", "s")]
    assert ("cells", "week 4", "inr") not in harmonized(tmp_path / "a", registry, rows)
    meta = minimal_meta("T1")
    meta["coagulation"] = {"isi": 1.3, "mean_normal_pt_s": 12.0, "source": "methods section"}
    inr = harmonized(tmp_path / "b", registry, rows, meta)[("cells", "week 4", "inr")]
    # formulas-and-methods.md 3.2 example: PT 18 s, MNPT 12 s, ISI 1.3 -> INR 1.694
    assert inr["mean"] == pytest.approx(1.694, abs=5e-4)
    assert "inr_from_pt_isi" in inr["flags"] and "ISI" in inr["method"]
    assert inr["sd"] == pytest.approx(1.3 * 1.5 ** 1.3 / 18 * 2, rel=1e-9)


def test_automatic_shard_count_follows_the_corpus_size():
    from livertrials.harmonize.shards import AUTO_SHARDS, STUDIES_PER_SHARD, shard_count

    assert shard_count(8, 60) == 8                       # a number is taken as it is
    assert shard_count("auto", 1) == AUTO_SHARDS[0] == 2   # two cores: never fewer than 2 batches
    assert shard_count("auto", 60) == 2
    assert shard_count("auto", 1000) == 1000 // STUDIES_PER_SHARD == 8
    assert shard_count("auto", 1001) == 9
    assert shard_count("auto", 100_000) == AUTO_SHARDS[1] == 16
