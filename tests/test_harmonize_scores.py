"""Tests for livertrials.harmonize.scores.

Expected numbers come from the project reference note
(``formulas-and-methods.md``; section numbers given per test) and from its
vector file, copied verbatim to ``tests/data/meld_vectors.csv`` (see
``tests/data/README_meld_vectors.md``). Hand arithmetic for the edge cases is
written out in comments; no expected value was produced by running the code
under test.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livertrials.harmonize import scores
from livertrials.harmonize.scores import (
    albi,
    albi_grade,
    albumin_g_dl_to_g_l,
    albumin_g_l_to_g_dl,
    bilirubin_mg_dl_to_umol,
    bilirubin_umol_to_mg_dl,
    child_pugh,
    creatinine_mg_dl_to_umol,
    creatinine_umol_to_mg_dl,
    meld_3,
    meld_3_raw,
    meld_mayo,
    meld_mayo_raw,
    meld_na_kim2008,
    meld_na_kim2008_raw,
    meld_na_unos2016,
    meld_na_unos2016_raw,
    meld_unos,
    meld_unos_raw,
)

VECTORS_CSV = Path(__file__).parent / "data" / "meld_vectors.csv"


# ---------------------------------------------------------------------------
# meld_vectors.csv (reference section 1.6)
# ---------------------------------------------------------------------------
def _load_vectors() -> list[dict[str, str]]:
    with VECTORS_CSV.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


VECTORS = _load_vectors()
KNOWN_VARIANTS = {"MELD_UNOS", "MELD_Mayo_Kamath2001", "MELDNa_UNOS2016", "MELDNa_Kim2008", "MELD3.0"}


def _f(row: dict[str, str], key: str) -> float:
    return float(row[key])


def _score_and_raw(row: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch one CSV row to (integer score, unrounded value)."""
    assert row["input_units"] == "US", "all shipped vectors are in US units"
    b, i, c = _f(row, "bilirubin"), _f(row, "inr"), _f(row, "creatinine")
    dial = bool(int(row["dialysis"]))
    v = row["variant"]
    if v == "MELD_UNOS":
        return meld_unos(b, i, c, dial), meld_unos_raw(b, i, c, dial)
    if v == "MELD_Mayo_Kamath2001":
        e = row["etiology"]
        return meld_mayo(b, i, c, e, dial), meld_mayo_raw(b, i, c, e, dial)
    na = _f(row, "sodium_mmol_l")
    if v == "MELDNa_UNOS2016":
        return meld_na_unos2016(b, i, c, na, dial), meld_na_unos2016_raw(b, i, c, na, dial)
    if v == "MELDNa_Kim2008":
        return meld_na_kim2008(b, i, c, na, dial), meld_na_kim2008_raw(b, i, c, na, dial)
    if v == "MELD3.0":
        alb, fem = _f(row, "albumin_g_dl"), int(row["female"])
        return meld_3(b, i, c, na, alb, fem, dial), meld_3_raw(b, i, c, na, alb, fem, dial)
    raise AssertionError(f"unknown variant {v!r}")


def test_vector_file_is_complete_and_known():
    ids = [r["vector_id"] for r in VECTORS]
    assert len(ids) == 17
    assert len(set(ids)) == len(ids)
    assert {r["variant"] for r in VECTORS} == KNOWN_VARIANTS


@pytest.mark.parametrize("row", VECTORS, ids=[f"{r['vector_id']}-{r['variant']}" for r in VECTORS])
def test_vector_expected_score(row):
    score, _ = _score_and_raw(row)
    assert score.shape == ()
    assert float(score) == float(int(row["expected_score"]))


@pytest.mark.parametrize("row", VECTORS, ids=[f"{r['vector_id']}-{r['variant']}" for r in VECTORS])
def test_vector_expected_unrounded(row):
    _, raw = _score_and_raw(row)
    assert float(raw) == pytest.approx(_f(row, "expected_unrounded"), abs=1e-6)


@pytest.mark.parametrize("variant", sorted(KNOWN_VARIANTS))
def test_vectors_vectorised_equals_rowwise(variant):
    rows = [r for r in VECTORS if r["variant"] == variant]
    b = np.array([_f(r, "bilirubin") for r in rows])
    i = np.array([_f(r, "inr") for r in rows])
    c = np.array([_f(r, "creatinine") for r in rows])
    expected = np.array([float(r["expected_score"]) for r in rows])
    if variant == "MELD_UNOS":
        got = meld_unos(b, i, c)
    elif variant == "MELD_Mayo_Kamath2001":
        got = meld_mayo(b, i, c, np.array([r["etiology"] for r in rows]))
    else:
        na = np.array([_f(r, "sodium_mmol_l") for r in rows])
        if variant == "MELDNa_UNOS2016":
            got = meld_na_unos2016(b, i, c, na)
        elif variant == "MELDNa_Kim2008":
            got = meld_na_kim2008(b, i, c, na)
        else:
            alb = np.array([_f(r, "albumin_g_dl") for r in rows])
            fem = np.array([int(r["female"]) for r in rows])
            got = meld_3(b, i, c, na, alb, fem)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------------
# Package test values quoted in the reference (sections 1.1, 1.3, 1.5)
# ---------------------------------------------------------------------------
def test_mayo_ameld_values_full_precision():
    # Section 1.1: ameld meld(1.9, 4.2, 1.2, cause="other") = 20.0391626,
    # cause="ethyltoxic" = 13.6091626.
    assert float(meld_mayo_raw(4.2, 1.2, 1.9, "other")) == pytest.approx(20.0391626, abs=1e-7)
    assert float(meld_mayo_raw(4.2, 1.2, 1.9, "ethyltoxic")) == pytest.approx(13.6091626, abs=1e-7)
    assert float(meld_mayo_raw(4.2, 1.2, 1.9, 1)) == pytest.approx(20.0391626, abs=1e-7)
    assert float(meld_mayo_raw(4.2, 1.2, 1.9, False)) == pytest.approx(13.6091626, abs=1e-7)


def test_mayo_with_etiology_one_equals_unos_raw():
    # Section 1.1: "With etiology = 1 it equals the UNOS form".
    assert float(meld_mayo_raw(4.2, 1.2, 1.9, "unos")) == pytest.approx(20.0391626, abs=1e-7)
    assert float(meld_unos_raw(4.2, 1.2, 1.9)) == pytest.approx(20.0391626, abs=1e-7)


def test_mayo_unknown_etiology_raises():
    with pytest.raises(ValueError, match="etiology"):
        meld_mayo(4.2, 1.2, 1.9, "viral-ish")
    with pytest.raises(ValueError, match="etiology"):
        meld_mayo(4.2, 1.2, 1.9, 2)


def test_mayo_etiology_string_array():
    got = meld_mayo([4.2, 4.2, 4.2], [1.2, 1.2, 1.2], [1.9, 1.9, 1.9], ["Cholestatic", "alcoholic", "other"])
    # 13.609 -> 14 and 20.039 -> 20 (vectors K01, K02)
    np.testing.assert_array_equal(got, [14.0, 14.0, 20.0])


def test_meld_na_unos_on_transplantr_inputs():
    # Section 1.3: transplantr inputs (INR 1.8, bili 2, creat 2, Na 131) under
    # the UNOS 2016 rule give 25.564 -> 26. MELD(i)=22: 22 + 7.92 - 4.356.
    assert float(meld_unos(2.0, 1.8, 2.0)) == 22.0
    assert float(meld_na_unos2016_raw(2.0, 1.8, 2.0, 131)) == pytest.approx(25.564, abs=1e-9)
    assert float(meld_na_unos2016(2.0, 1.8, 2.0, 131)) == 26.0


def test_meld_na_unos_uses_policy_rounded_meld_i_not_ameld_unrounded():
    # Section 1.3: ameld applies the adjustment to the unrounded MELD(i)
    # (27.9437 for N01); the policy value is 27.92. Both round to 28.
    raw = float(meld_na_unos2016_raw(4.2, 1.2, 1.9, 125))
    assert raw == pytest.approx(27.92, abs=1e-9)
    assert abs(raw - 27.9437) > 0.02
    assert float(meld_na_unos2016(4.2, 1.2, 1.9, 125)) == 28.0


def test_transplantr_si_meld_vector():
    # Section 1.5: transplantr meld(INR 2.0, bili 54 umol/L, creat 170 umol/L)
    # = 24.798 (its test rounds to 3 decimals); the policy value is 25.
    b = bilirubin_umol_to_mg_dl(54)
    c = creatinine_umol_to_mg_dl(170)
    assert round(float(meld_unos_raw(b, 2.0, c)), 3) == 24.798
    assert float(meld_unos(b, 2.0, c)) == 25.0


# ---------------------------------------------------------------------------
# Units (section 3.1)
# ---------------------------------------------------------------------------
def test_unit_constants():
    assert scores.BILIRUBIN_UMOL_L_PER_MG_DL == 17.1
    assert scores.CREATININE_UMOL_L_PER_MG_DL == 88.4
    assert scores.ALBUMIN_G_L_PER_G_DL == 10.0


def test_transplantr_unit_vectors():
    # transplantr tests/testthat/test_units.R, with the rounding it states.
    assert round(float(bilirubin_umol_to_mg_dl(18)), 1) == 1.1
    assert round(float(bilirubin_mg_dl_to_umol(5.4)), 0) == 92
    assert round(float(creatinine_umol_to_mg_dl(270)), 1) == 3.1
    assert round(float(creatinine_mg_dl_to_umol(3.5)), 0) == 309


def test_albumin_conversion_exact_and_roundtrip():
    assert float(albumin_g_l_to_g_dl(35.0)) == 3.5
    assert float(albumin_g_dl_to_g_l(2.8)) == pytest.approx(28.0, abs=1e-12)
    x = np.array([5.0, 34.2, 51.3, 400.0])
    np.testing.assert_allclose(bilirubin_mg_dl_to_umol(bilirubin_umol_to_mg_dl(x)), x, rtol=1e-14)
    np.testing.assert_allclose(creatinine_mg_dl_to_umol(creatinine_umol_to_mg_dl(x)), x, rtol=1e-14)


def test_convert_before_bounding():
    # 15 umol/L bilirubin = 0.877 mg/dL -> floored to 1.0; 80 umol/L
    # creatinine = 0.905 mg/dL -> floored: all labs at floor -> 6.43 (U01).
    assert float(meld_unos_raw(bilirubin_umol_to_mg_dl(15), 1.0, creatinine_umol_to_mg_dl(80))) == pytest.approx(
        6.43, abs=1e-12
    )
    # 400 umol/L creatinine = 4.52 mg/dL -> capped at 4.0; with bili 3.0 and
    # INR 2.0 this is vector U04 (31.612840 -> 32).
    assert float(meld_unos_raw(3.0, 2.0, creatinine_umol_to_mg_dl(400))) == pytest.approx(31.612840, abs=1e-6)
    assert float(meld_unos(3.0, 2.0, creatinine_umol_to_mg_dl(400))) == 32.0


# ---------------------------------------------------------------------------
# UNOS MELD edge cases (section 1.2)
# ---------------------------------------------------------------------------
def test_meld_unos_floors():
    # Every lab below 1.0 is set to 1.0 -> 10R = 6.43 -> MELD(i) 6 (U01/U02).
    low = np.array([0.01, 0.5, 0.99, 1.0])
    np.testing.assert_allclose(meld_unos_raw(low, 1.0, 1.0), 6.43, atol=1e-12)
    np.testing.assert_allclose(meld_unos_raw(1.0, low, 1.0), 6.43, atol=1e-12)
    np.testing.assert_allclose(meld_unos_raw(1.0, 1.0, low), 6.43, atol=1e-12)
    np.testing.assert_array_equal(meld_unos(low, low, low), 6.0)


def test_meld_unos_creatinine_cap_and_dialysis():
    # creatinine > 4 is set to 4; dialysis forces 4 (U04 inputs: 31.61 -> 32).
    assert float(meld_unos(3.0, 2.0, 9.0)) == 32.0
    assert float(meld_unos(3.0, 2.0, 4.0)) == 32.0
    assert float(meld_unos(3.0, 2.0, 1.1, dialysis=True)) == 32.0
    assert float(meld_unos(3.0, 2.0, 0.4, dialysis=1)) == 32.0
    assert float(meld_unos_raw(3.0, 2.0, 1.1, dialysis=True)) == pytest.approx(31.612840, abs=1e-6)
    # dialysis=False leaves creatinine alone: U03 inputs -> 20.
    assert float(meld_unos(4.2, 1.2, 1.9, dialysis=False)) == 20.0


def test_meld_unos_cap_40():
    # bili 50, INR 8, creat 4: 10R = 9.57 ln4 + 3.78 ln50 + 11.2 ln8 + 6.43
    # = 13.27 + 14.79 + 23.29 + 6.43 = 57.8 -> capped at 40.
    assert float(meld_unos_raw(50.0, 8.0, 4.0)) > 40.0
    assert float(meld_unos(50.0, 8.0, 4.0)) == 40.0


def test_meld_unos_integer_rounding_near_11_and_12():
    # bili 1, INR 1: 10R = 9.57 ln(creat) + 6.43.
    # creat 1.6 -> 9.57*0.470004 + 6.43 = 10.928 -> 11
    # creat 1.8 -> 9.57*0.587787 + 6.43 = 12.055 -> 12
    assert float(meld_unos(1.0, 1.0, 1.6)) == 11.0
    assert float(meld_unos(1.0, 1.0, 1.8)) == 12.0


def test_round_half_up_rule_is_explicit():
    # Module rule: snap to 1e-9, then floor(x + 0.5); ties go up, unlike
    # numpy.rint (half to even).
    x = np.array([10.5, 11.5, 12.4999999999999, 16.650000000000002, 2.5])
    np.testing.assert_array_equal(scores._round_half_up(x), [11.0, 12.0, 13.0, 17.0, 3.0])
    assert np.isnan(scores._round_half_up(np.array([np.nan])))[0]


# ---------------------------------------------------------------------------
# MELD-Na edge cases (section 1.3)
# ---------------------------------------------------------------------------
def test_meld_na_threshold_11_vs_12():
    # MELD(i) = 11 (creat 1.6): not adjusted even at Na 125.
    assert float(meld_na_unos2016_raw(1.0, 1.0, 1.6, 125)) == 11.0
    assert float(meld_na_unos2016(1.0, 1.0, 1.6, 125)) == 11.0
    # MELD(i) = 12 (creat 1.8): vector N07, 12 -> 12 + 15.84 - 4.752 = 23.088 -> 23.
    assert float(meld_na_unos2016_raw(1.0, 1.0, 1.8, 125)) == pytest.approx(23.088, abs=1e-9)
    assert float(meld_na_unos2016(1.0, 1.0, 1.8, 125)) == 23.0


def test_meld_na_sodium_bounds():
    # Na bounded 125-137 (N01-N04): 124 and 100 behave as 125; 138/150 as 137.
    b, i, c = 4.2, 1.2, 1.9
    assert float(meld_na_unos2016(b, i, c, 100)) == 28.0
    assert float(meld_na_unos2016_raw(b, i, c, 100)) == pytest.approx(27.92, abs=1e-9)
    assert float(meld_na_unos2016_raw(b, i, c, 150)) == 20.0
    # Non-integer sodium inside bounds: 20 + 1.32*1.5 - 0.033*20*1.5 = 20.99.
    assert float(meld_na_unos2016_raw(b, i, c, 135.5)) == pytest.approx(20.99, abs=1e-9)
    assert float(meld_na_unos2016(b, i, c, 135.5)) == 21.0


def test_meld_na_never_above_40():
    # At MELD(i) = 40 the sodium term is 1.32 - 0.033*40 = 0 (section 1.3).
    assert float(meld_unos(50.0, 8.0, 4.0)) == 40.0
    assert float(meld_na_unos2016_raw(50.0, 8.0, 4.0, 125)) == pytest.approx(40.0, abs=1e-9)
    assert float(meld_na_unos2016(50.0, 8.0, 4.0, 125)) == 40.0
    assert float(meld_na_unos2016(50.0, 8.0, 4.0, 110, dialysis=True)) == 40.0


def test_meld_na_low_meld_ignores_sodium():
    # MELD(i) 6 (all labs at floor) is <= 11: sodium has no effect.
    np.testing.assert_array_equal(meld_na_unos2016(1.0, 1.0, 1.0, [120, 125, 130, 137, 145]), 6.0)


def test_meld_na_kim2008_sodium_bounds():
    # Kim 2008 bounds Na to 125-140; at Na 140 the formula returns MELD itself.
    # 10R for (bili 2, INR 1.8, creat 2) from N10: 26.256712 = 0.775*MELD + 9
    # -> MELD = 17.256712 / 0.775 = 22.266725
    raw_meld = 22.266725
    assert float(meld_na_kim2008_raw(2.0, 1.8, 2.0, 140)) == pytest.approx(raw_meld, abs=1e-6)
    assert float(meld_na_kim2008_raw(2.0, 1.8, 2.0, 145)) == pytest.approx(raw_meld, abs=1e-6)
    assert float(meld_na_kim2008_raw(2.0, 1.8, 2.0, 120)) == pytest.approx(
        float(meld_na_kim2008_raw(2.0, 1.8, 2.0, 125)), abs=1e-12
    )
    # Na 125: MELD + 15 - 0.025*MELD*15 = 22.266725*0.625 + 15 = 28.916703 -> 29
    assert float(meld_na_kim2008_raw(2.0, 1.8, 2.0, 125)) == pytest.approx(28.916703, abs=2e-6)
    assert float(meld_na_kim2008(2.0, 1.8, 2.0, 125)) == 29.0


# ---------------------------------------------------------------------------
# MELD 3.0 edge cases (section 1.4)
# ---------------------------------------------------------------------------
def test_meld3_creatinine_cap_and_dialysis():
    # M05: creatinine 3.6 capped at 3.0 -> raw 33.330930 -> 33.
    args = (3.0, 2.0)
    tail = (130, 2.8, 0)
    assert float(meld_3_raw(*args, 3.0, *tail)) == pytest.approx(33.330930, abs=1e-6)
    assert float(meld_3_raw(*args, 12.0, *tail)) == pytest.approx(33.330930, abs=1e-6)
    assert float(meld_3_raw(*args, 1.0, *tail, dialysis=True)) == pytest.approx(33.330930, abs=1e-6)
    assert float(meld_3(*args, 0.5, *tail, dialysis=1)) == 33.0


def test_meld3_albumin_and_sodium_bounds():
    # M03/M04 inputs: albumin 3.5 is the upper bound, so 4.5 gives the same.
    assert float(meld_3_raw(4.2, 1.2, 1.9, 135, 4.5, 0)) == pytest.approx(22.302700, abs=1e-6)
    # Na 137 and above: sodium terms vanish; all-reference male -> 6 (M01).
    assert float(meld_3_raw(1.0, 1.0, 1.0, 150, 5.0, 0)) == pytest.approx(6.0, abs=1e-12)
    # Albumin below 1.5 behaves as 1.5; sodium below 125 as 125.
    lo = float(meld_3_raw(3.0, 2.0, 2.0, 125, 1.5, 1))
    assert float(meld_3_raw(3.0, 2.0, 2.0, 110, 0.9, 1)) == pytest.approx(lo, abs=1e-12)
    # With all labs at 1.0 (ln = 0): 1.33 + 0.82*12 + 1.85*2 + 6 = 20.87.
    assert float(meld_3_raw(1.0, 1.0, 1.0, 100, 1.0, 1)) == pytest.approx(20.87, abs=1e-9)
    assert float(meld_3(1.0, 1.0, 1.0, 100, 1.0, 1)) == 21.0


def test_meld3_bounds_6_to_40():
    # Minimum: M01 (male, all at reference) = 6; floors keep it at 6.
    assert float(meld_3(0.2, 0.5, 0.3, 145, 5.0, 0)) == 6.0
    # bili 40, INR 5, creat 3, Na 125, alb 1.5, female:
    # ln40*(4.56-2.88) + 9.84 + 9.09 ln5 + ln3*(11.14-3.66) + 3.7 + 6 + 1.33
    # = 6.197 + 9.84 + 14.630 + 8.217 + 3.7 + 7.33 = 49.9 -> bounded to 40.
    raw = float(meld_3_raw(40.0, 5.0, 3.0, 125, 1.5, 1))
    assert raw == pytest.approx(49.915, abs=5e-3)
    assert float(meld_3(40.0, 5.0, 3.0, 125, 1.5, 1)) == 40.0


def test_meld3_female_term():
    # M03 - M04 = 1.33 exactly.
    diff = float(meld_3_raw(4.2, 1.2, 1.9, 135, 3.5, True)) - float(meld_3_raw(4.2, 1.2, 1.9, 135, 3.5, False))
    assert diff == pytest.approx(1.33, abs=1e-12)
    with pytest.raises(ValueError, match="female"):
        meld_3(4.2, 1.2, 1.9, 135, 3.5, 2)


# ---------------------------------------------------------------------------
# NaN propagation and validation (all scores)
# ---------------------------------------------------------------------------
NAN = float("nan")

SCORE_CALLS = {
    "meld_unos": (meld_unos, (4.2, 1.2, 1.9)),
    "meld_unos_raw": (meld_unos_raw, (4.2, 1.2, 1.9)),
    "meld_mayo": (meld_mayo, (4.2, 1.2, 1.9, 1)),
    "meld_na_unos2016": (meld_na_unos2016, (4.2, 1.2, 1.9, 125)),
    "meld_na_unos2016_raw": (meld_na_unos2016_raw, (4.2, 1.2, 1.9, 125)),
    "meld_na_kim2008": (meld_na_kim2008, (2.0, 1.8, 2.0, 131)),
    "meld_3": (meld_3, (4.2, 1.2, 1.9, 135, 3.5, 1)),
    "meld_3_raw": (meld_3_raw, (4.2, 1.2, 1.9, 135, 3.5, 1)),
    "albi": (albi, (17.1, 40.0)),
}
NAN_CASES = [(name, k) for name, (_, args) in SCORE_CALLS.items() for k in range(len(args))]


@pytest.mark.parametrize("name,k", NAN_CASES, ids=[f"{n}-arg{k}" for n, k in NAN_CASES])
def test_nan_in_any_required_input_gives_nan(name, k):
    fn, args = SCORE_CALLS[name]
    args = list(args)
    assert np.isfinite(fn(*args))  # baseline is finite
    args[k] = NAN
    out = fn(*args)
    assert isinstance(out, np.ndarray)
    assert np.isnan(out)


def test_nan_only_affects_its_own_position():
    b = np.array([4.2, NAN, 4.2])
    out = meld_na_unos2016(b, 1.2, 1.9, [125, 125, NAN])
    assert out[0] == 28.0
    assert np.isnan(out[1]) and np.isnan(out[2])


def test_nan_with_low_meld_and_dialysis():
    # MELD(i) <= 11 branch still propagates NaN sodium; NaN dialysis -> NaN.
    assert np.isnan(meld_na_unos2016(1.0, 1.0, 1.0, NAN))
    assert np.isnan(meld_unos(4.2, 1.2, 1.9, dialysis=NAN))
    assert np.isnan(meld_unos(4.2, 1.2, NAN, dialysis=True))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
@pytest.mark.parametrize(
    "call,argname",
    [
        (lambda v: meld_unos(v, 1.2, 1.9), "bilirubin_mg_dl"),
        (lambda v: meld_unos(4.2, v, 1.9), "inr"),
        (lambda v: meld_unos(4.2, 1.2, [1.0, v]), "creatinine_mg_dl"),
        (lambda v: meld_na_unos2016(4.2, 1.2, 1.9, v), "sodium_mmol_l"),
        (lambda v: meld_3(4.2, 1.2, 1.9, 135, v, 0), "albumin_g_dl"),
        (lambda v: child_pugh(1.0, v, 1.1, 1, 1), "albumin_g_dl"),
        (lambda v: albi(v, 40.0), "bilirubin_umol_l"),
        (lambda v: albi(17.1, v), "albumin_g_l"),
    ],
)
def test_non_positive_labs_raise_value_error_naming_argument(call, argname, bad):
    with pytest.raises(ValueError, match=argname):
        call(bad)


def test_bad_dialysis_and_points_raise():
    with pytest.raises(ValueError, match="dialysis"):
        meld_unos(4.2, 1.2, 1.9, dialysis=3)
    with pytest.raises(ValueError, match="ascites_points"):
        child_pugh(1.0, 4.0, 1.1, 0, 1)
    with pytest.raises(ValueError, match="encephalopathy_points"):
        child_pugh(1.0, 4.0, 1.1, 1, 4)


def test_scalar_in_gives_0d_array_and_broadcasting():
    out = meld_unos(4.2, 1.2, 1.9)
    assert isinstance(out, np.ndarray) and out.shape == ()
    out2 = meld_unos([[4.2], [1.0]], 1.2, [1.9, 1.0])
    assert out2.shape == (2, 2)
    assert out2[0, 0] == 20.0  # U03


# ---------------------------------------------------------------------------
# Child-Pugh (section 2.1)
# ---------------------------------------------------------------------------
CHILD_PUGH_VECTORS = [
    # (bili, alb, INR, ascites pts, HE pts, score, class)
    # medx test: bili 3.2, alb 2.6, INR 2.0, ascites mild (2), HE mild (2) -> 12 C
    (3.2, 2.6, 2.0, 2, 2, 12, "C"),
    (1.0, 4.0, 1.1, 1, 1, 5, "A"),
    (2.0, 3.5, 1.7, 1, 1, 8, "B"),
    (3.0, 2.8, 2.3, 2, 1, 9, "B"),
    (3.1, 2.7, 2.4, 3, 3, 15, "C"),
    (1.9, 3.6, 1.69, 1, 2, 6, "A"),
]


@pytest.mark.parametrize("b,alb,inr,asc,he,score,cls", CHILD_PUGH_VECTORS)
def test_child_pugh_reference_vectors(b, alb, inr, asc, he, score, cls):
    res = child_pugh(b, alb, inr, asc, he)
    assert float(res.score) == score
    assert res.child_class[()] == cls
    s, c = child_pugh(b, alb, inr, asc, he)  # plain tuple unpacking works
    assert float(s) == score and c[()] == cls


def test_child_pugh_vectorised_matches_table():
    cols = list(zip(*CHILD_PUGH_VECTORS))
    res = child_pugh(*[np.array(col) for col in cols[:5]])
    np.testing.assert_array_equal(res.score, np.array(cols[5], dtype=float))
    assert list(res.child_class) == list(cols[6])


@pytest.mark.parametrize(
    "bili,points",
    [(1.99, 1), (2.0, 2), (3.0, 2), (3.01, 3)],
)
def test_child_pugh_bilirubin_boundaries(bili, points):
    # Other items at 1 point each (alb 4.0, INR 1.0, ascites 1, HE 1) -> 4 + points.
    assert float(child_pugh(bili, 4.0, 1.0, 1, 1).score) == 4 + points


@pytest.mark.parametrize("alb,points", [(3.51, 1), (3.5, 2), (2.8, 2), (2.79, 3)])
def test_child_pugh_albumin_boundaries(alb, points):
    assert float(child_pugh(1.0, alb, 1.0, 1, 1).score) == 4 + points


@pytest.mark.parametrize("inr,points", [(1.69, 1), (1.7, 2), (2.3, 2), (2.31, 3)])
def test_child_pugh_inr_boundaries(inr, points):
    assert float(child_pugh(1.0, 4.0, inr, 1, 1).score) == 4 + points


def test_child_pugh_class_boundaries_and_nan():
    # score 6 -> A, 7 -> B, 9 -> B, 10 -> C
    res = child_pugh([1.0, 1.0, 1.0, 1.0], 4.0, 1.0, [1, 2, 3, 3], [2, 2, 3, 3])
    np.testing.assert_array_equal(res.score, [6.0, 7.0, 9.0, 9.0])
    assert list(res.child_class) == ["A", "B", "B", "B"]
    res = child_pugh(2.5, 4.0, 1.0, 3, 3)  # 2 + 1 + 1 + 3 + 3 = 10
    assert float(res.score) == 10.0 and res.child_class[()] == "C"
    res = child_pugh([1.0, NAN], 4.0, 1.0, [1, 1], [1, NAN])
    assert res.score[0] == 5.0 and np.isnan(res.score[1])
    assert res.child_class[0] == "A" and res.child_class[1] is None
    res = child_pugh(1.0, 4.0, 1.0, NAN, 1)
    assert np.isnan(res.score) and res.child_class[()] is None


# ---------------------------------------------------------------------------
# ALBI (section 2.2)
# ---------------------------------------------------------------------------
ALBI_VECTORS = [
    (10.0, 45.0, -3.1650, 1),
    (17.1, 40.0, -2.5862, 2),
    (50.0, 30.0, -1.4287, 2),
    (85.5, 25.0, -0.8499, 3),
    (17.1, 40.1, -2.5947, 2),
]


@pytest.mark.parametrize("bili,alb,expected,grade", ALBI_VECTORS)
def test_albi_reference_vectors(bili, alb, expected, grade):
    s = albi(bili, alb)
    assert float(s) == pytest.approx(expected, abs=5e-5)  # table gives 4 decimals
    assert float(albi_grade(s)) == grade


def test_albi_coefficient_choice_boundary_example():
    # Section 2.2: with the project coefficient -0.085, bili 17.1 / alb 40.1
    # gives -2.5947 (grade 2); the -0.0852 variant would give -2.6027 (grade 1).
    assert scores.ALBI_ALBUMIN_COEF == -0.085
    assert scores.ALBI_BILIRUBIN_COEF == 0.66
    assert float(albi_grade(albi(17.1, 40.1))) == 2.0
    alt = 0.66 * math.log10(17.1) - 0.0852 * 40.1
    assert alt == pytest.approx(-2.6027, abs=5e-5)
    assert float(albi_grade(alt)) == 1.0


def test_albi_grade_cut_points_and_nan():
    got = albi_grade([-3.0, -2.60, -2.5999, -1.39, -1.3899, 0.5, NAN])
    np.testing.assert_array_equal(got[:6], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    assert np.isnan(got[6])


# ---------------------------------------------------------------------------
# Property tests (hypothesis)
# ---------------------------------------------------------------------------
plausible_bili = st.floats(min_value=0.1, max_value=60.0, allow_nan=False)
plausible_inr = st.floats(min_value=0.5, max_value=10.0, allow_nan=False)
plausible_creat = st.floats(min_value=0.2, max_value=15.0, allow_nan=False)
plausible_na = st.floats(min_value=110.0, max_value=160.0, allow_nan=False)
plausible_alb = st.floats(min_value=0.8, max_value=6.0, allow_nan=False)
any_positive = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
flags = st.booleans()

PROPS = settings(deadline=None, max_examples=150)


def _bump(f, a, b, which, *args):
    """Return f with lab ``which`` at min(a,b) and at max(a,b)."""
    lo, hi = sorted((a, b))
    labs_lo, labs_hi = list(args[:3]), list(args[:3])
    labs_lo[which], labs_hi[which] = lo, hi
    return float(f(*labs_lo, *args[3:])), float(f(*labs_hi, *args[3:]))


@PROPS
@given(
    which=st.sampled_from([0, 1, 2]),
    a=st.floats(min_value=0.05, max_value=100.0),
    b=st.floats(min_value=0.05, max_value=100.0),
    bili=plausible_bili,
    inr=plausible_inr,
    creat=plausible_creat,
    dial=flags,
)
def test_prop_meld_unos_monotone(which, a, b, bili, inr, creat, dial):
    lo, hi = _bump(meld_unos, a, b, which, bili, inr, creat, dial)
    assert lo <= hi
    lo_r, hi_r = _bump(meld_unos_raw, a, b, which, bili, inr, creat, dial)
    assert lo_r <= hi_r


@PROPS
@given(
    which=st.sampled_from([0, 1, 2]),
    a=st.floats(min_value=0.05, max_value=100.0),
    b=st.floats(min_value=0.05, max_value=100.0),
    bili=plausible_bili,
    inr=plausible_inr,
    creat=plausible_creat,
    na=plausible_na,
    alb=plausible_alb,
    female=flags,
    dial=flags,
)
def test_prop_meld3_monotone(which, a, b, bili, inr, creat, na, alb, female, dial):
    lo, hi = _bump(meld_3, a, b, which, bili, inr, creat, na, alb, female, dial)
    assert lo <= hi
    lo_r, hi_r = _bump(meld_3_raw, a, b, which, bili, inr, creat, na, alb, female, dial)
    assert lo_r <= hi_r


@PROPS
@given(bili=any_positive, inr=any_positive, creat=any_positive, na=any_positive, alb=any_positive, female=flags, dial=flags)
def test_prop_any_finite_positive_input_is_bounded_integer(bili, inr, creat, na, alb, female, dial):
    for fn, args, lo, hi in [
        (meld_unos, (bili, inr, creat, dial), 6.0, 40.0),
        (meld_na_unos2016, (bili, inr, creat, na, dial), 6.0, 40.0),
        (meld_3, (bili, inr, creat, na, alb, female, dial), 6.0, 40.0),
    ]:
        v = float(fn(*args))
        assert lo <= v <= hi
        assert v == math.floor(v)
    for fn, args in [
        (meld_mayo, (bili, inr, creat, female, dial)),
        (meld_na_kim2008, (bili, inr, creat, na, dial)),
    ]:
        v = float(fn(*args))
        assert math.isfinite(v) and v == math.floor(v) and v >= 0.0
    assert math.isfinite(float(meld_3_raw(bili, inr, creat, na, alb, female, dial)))
    cp = child_pugh(bili, alb, inr, 1, 1)
    assert 5.0 <= float(cp.score) <= 11.0 and cp.child_class[()] in {"A", "B", "C"}
    g = float(albi_grade(albi(bili, alb)))
    assert g in {1.0, 2.0, 3.0}


@PROPS
@given(bili=plausible_bili, inr=plausible_inr, creat=plausible_creat, na=plausible_na, dial=flags)
def test_prop_meld_na_at_least_meld_i_and_at_most_40(bili, inr, creat, na, dial):
    # Section 1.5: "MELD-Na is at least MELD, given the same MELD(i) > 11";
    # section 1.3: never above 40.
    m = float(meld_unos(bili, inr, creat, dial))
    mna = float(meld_na_unos2016(bili, inr, creat, na, dial))
    assert m <= mna <= 40.0
    if m <= 11:
        assert mna == m


@PROPS
@given(
    labs=st.lists(st.tuples(plausible_bili, plausible_inr, plausible_creat, plausible_na, plausible_alb), min_size=1, max_size=20),
    nan_pos=st.integers(min_value=0, max_value=19),
    nan_arg=st.integers(min_value=0, max_value=4),
)
def test_prop_nan_propagation_vectorised(labs, nan_pos, nan_arg):
    cols = [np.array(c, dtype=float) for c in zip(*labs)]
    pos = nan_pos % len(labs)
    cols[nan_arg][pos] = np.nan
    b, i, c, na, alb = cols
    for out in (
        meld_3(b, i, c, na, alb, 1),
        meld_na_kim2008(b, i, c, na) if nan_arg < 4 else meld_3_raw(b, i, c, na, alb, 0),
        meld_na_unos2016(b, i, c, na) if nan_arg < 4 else child_pugh(b, alb, i, 1, 1).score,
    ):
        assert np.isnan(out[pos])
        others = np.delete(out, pos)
        assert np.all(np.isfinite(others))


@PROPS
@given(
    labs=st.lists(st.tuples(plausible_bili, plausible_inr, plausible_creat, plausible_na, plausible_alb, flags), min_size=1, max_size=10)
)
def test_prop_vectorised_equals_scalar(labs):
    b, i, c, na, alb, fem = (np.array(col) for col in zip(*labs))
    vec = meld_3(b, i, c, na, alb, fem)
    vec_na = meld_na_unos2016(b, i, c, na)
    for k in range(len(labs)):
        assert vec[k] == float(meld_3(b[k], i[k], c[k], na[k], alb[k], fem[k]))
        assert vec_na[k] == float(meld_na_unos2016(b[k], i[k], c[k], na[k]))
