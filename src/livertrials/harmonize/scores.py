"""Liver severity scores: MELD variants, Child-Pugh and ALBI (vectorised).

Every function accepts array-likes (scalars work too), broadcasts its inputs
with the usual numpy rules and returns a numpy array (0-d for scalar inputs).

Conventions shared by all functions
-----------------------------------
* **Units.** MELD and Child-Pugh take bilirubin and creatinine in mg/dL,
  albumin in g/dL and sodium in mmol/L (= mEq/L). ALBI takes bilirubin in
  umol/L and albumin in g/L, as published. Convert SI values with the helper
  functions below *before* calling a score, so that the MELD bounds are applied
  in mg/dL (reference ``docs/formulas-and-methods.md`` section 3.1, "Convert first,
  then apply the MELD bounds in mg/dL").
* **Missing values.** A NaN in any required input gives NaN in the output at
  that position (never an exception). Integer-valued scores are therefore
  returned as ``float64`` arrays holding whole numbers, so NaN can propagate.
* **Validation.** Zero, negative or infinite laboratory values raise
  ``ValueError`` naming the offending argument.
* **Rounding rule.** Wherever a score is rounded to an integer this module uses
  *round half up* (``floor(x + 0.5)``; all rounded quantities are positive),
  applied after snapping ``x`` to a 1e-9 grid so that binary representation
  noise such as ``23.4999999999999996`` cannot decide the result (see
  :func:`_round_half_up`). This is the "Math.round" convention of clinical
  calculators. It differs from Python's ``round`` / ``numpy.rint`` (half to
  even) only at exact .5 ties, which the reference asks tests to avoid
  (section 1.2, edge rule 7).

Reference: ``docs/formulas-and-methods.md`` (project reference note), sections 1
(MELD variants), 2 (Child-Pugh, ALBI) and 3.1 (unit conversions).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "BILIRUBIN_UMOL_L_PER_MG_DL",
    "CREATININE_UMOL_L_PER_MG_DL",
    "ALBUMIN_G_L_PER_G_DL",
    "ALBI_ALBUMIN_COEF",
    "ALBI_BILIRUBIN_COEF",
    "ALBI_GRADE1_MAX",
    "ALBI_GRADE2_MAX",
    "ChildPughResult",
    "albi",
    "albi_grade",
    "albumin_g_dl_to_g_l",
    "albumin_g_l_to_g_dl",
    "bilirubin_mg_dl_to_umol",
    "bilirubin_umol_to_mg_dl",
    "child_pugh",
    "creatinine_mg_dl_to_umol",
    "creatinine_umol_to_mg_dl",
    "meld_3",
    "meld_3_raw",
    "meld_mayo",
    "meld_mayo_raw",
    "meld_na_kim2008",
    "meld_na_kim2008_raw",
    "meld_na_unos2016",
    "meld_na_unos2016_raw",
    "meld_unos",
    "meld_unos_raw",
]

# ---------------------------------------------------------------------------
# Unit factors (reference section 3.1, "Chemistry conversions").
# Sources quoted there: transplantr R/unit_conversion.R and ameld R/si.R.
# The scores take fixed units (the published formulas' own), so these factors
# belong to the formulas and are constants here, not registry look-ups. They
# equal the registry's factors (resources/registry/outcomes.yaml), which
# harmonization uses; tests/test_io_registry.py checks that the two agree.
# ---------------------------------------------------------------------------
#: umol/L of bilirubin per mg/dL (molar mass 584.66 g/mol -> 17.104; the
#: packages and the reference use 17.1).
BILIRUBIN_UMOL_L_PER_MG_DL = 17.1
#: umol/L of creatinine per mg/dL (molar mass 113.12 g/mol -> 88.40).
CREATININE_UMOL_L_PER_MG_DL = 88.4
#: g/L of albumin per g/dL (exact).
ALBUMIN_G_L_PER_G_DL = 10.0

# ---------------------------------------------------------------------------
# MELD constants (reference section 1).
# ---------------------------------------------------------------------------
_MELD_LAB_FLOOR = 1.0  # OPTN 9.1.D: lab values < 1.0 are set to 1.0
_MELD_CREATININE_CAP = 4.0  # OPTN 9.1.D: creatinine > 4.0 (or dialysis) -> 4.0
_MELD_MAX = 40.0  # OPTN 9.1.D: maximum MELD score is 40
# 10 x the OPTN/Kamath coefficients (0.957, 0.378, 1.120, 0.643).
_MELD_C_CREAT = 9.57
_MELD_C_BILI = 3.78
_MELD_C_INR = 11.2
_MELD_C_ETIOLOGY = 6.43

_MELDNA_UNOS_THRESHOLD = 11  # adjustment only when integer MELD(i) > 11
_MELDNA_UNOS_NA_MIN, _MELDNA_UNOS_NA_MAX = 125.0, 137.0
_MELDNA_KIM_NA_MIN, _MELDNA_KIM_NA_MAX = 125.0, 140.0

_MELD3_CREATININE_CAP = 3.0
_MELD3_NA_MIN, _MELD3_NA_MAX = 125.0, 137.0
_MELD3_ALB_MIN, _MELD3_ALB_MAX = 1.5, 3.5
_MELD3_MIN, _MELD3_MAX = 6.0, 40.0

# ---------------------------------------------------------------------------
# ALBI constants (reference section 2.2; Johnson PJ et al., J Clin Oncol
# 2015;33(6):550-8, doi:10.1200/JCO.2014.57.9151).
# ---------------------------------------------------------------------------
ALBI_BILIRUBIN_COEF = 0.66
#: The published coefficient is -0.085 (Johnson 2015, as printed in the JCO
#: paper and used by the mdapp/aihaoyisheng calculators cited in section 2.2).
#: Some code uses -0.0852 (together with bilirubin x 17.104); that variant
#: flips grades near the cut-points, e.g. bilirubin 17.1 umol/L with albumin
#: 40.1 g/L gives -2.5947 (grade 2) with -0.085 but -2.6027 (grade 1) with
#: -0.0852. The project fixes the published -0.085, as the reference's
#: worked vectors do.
ALBI_ALBUMIN_COEF = -0.085
ALBI_GRADE1_MAX = -2.60  # grade 1: ALBI <= -2.60
ALBI_GRADE2_MAX = -1.39  # grade 2: -2.60 < ALBI <= -1.39; grade 3: > -1.39

# Child-Pugh class boundaries on the total score (section 2.1).
_CP_CLASS_A_MAX = 6  # A = 5-6
_CP_CLASS_B_MAX = 9  # B = 7-9, C = 10-15

# Rounding guard: values are snapped to this many decimals before half-up
# rounding so float noise cannot move a value across an integer boundary.
_SNAP_DECIMALS = 9


# ---------------------------------------------------------------------------
# Internal helpers
# ---------------------------------------------------------------------------
def _as_float(x: ArrayLike, name: str) -> np.ndarray:
    """Convert ``x`` to a float64 array, with a clear error for bad types."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric (array-like of numbers); got {x!r}") from exc
    return arr


def _as_lab(x: ArrayLike, name: str) -> np.ndarray:
    """Float array of a laboratory value: NaN allowed, must be finite and > 0."""
    arr = _as_float(x, name)
    bad = (arr <= 0) | np.isinf(arr)  # NaN compares False -> allowed
    if bad.any():
        first = arr[bad].flat[0]
        raise ValueError(
            f"{name} must be a positive, finite laboratory value "
            f"(zero, negative and infinite values are rejected); "
            f"got {int(bad.sum())} invalid value(s), e.g. {first!r}"
        )
    return arr


def _as_flag(x: ArrayLike, name: str) -> np.ndarray:
    """Float array of a 0/1 indicator (bool accepted); NaN means unknown."""
    arr = _as_float(x, name)
    bad = ~(np.isnan(arr) | (arr == 0) | (arr == 1))
    if bad.any():
        raise ValueError(
            f"{name} must be boolean or 0/1 (NaN for unknown); "
            f"got e.g. {arr[bad].flat[0]!r}"
        )
    return arr


def _as_points(x: ArrayLike, name: str) -> np.ndarray:
    """Float array of Child-Pugh clinical points in {1, 2, 3} (NaN allowed)."""
    arr = _as_float(x, name)
    bad = ~(np.isnan(arr) | (arr == 1) | (arr == 2) | (arr == 3))
    if bad.any():
        raise ValueError(
            f"{name} must be Child-Pugh points 1, 2 or 3 (NaN for unknown); "
            f"got e.g. {arr[bad].flat[0]!r}"
        )
    return arr


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties upward, after snapping to 1e-9.

    Explicit rule used for every integer score in this module: the value is
    first rounded to 9 decimals (removing binary-representation noise such as
    ``16.650000000000002`` or ``x.4999999999999996``), then ``floor(v + 0.5)``
    is taken. NaN stays NaN. Both steps are monotone non-decreasing, so the
    rounded score keeps the monotonicity of the unrounded one.
    """
    return np.floor(np.round(x, _SNAP_DECIMALS) + 0.5)


def _nan_if(mask_nan: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.where(mask_nan, np.nan, values)


def _meld_bounded_labs(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    dialysis: ArrayLike,
    creatinine_cap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and bound bilirubin, INR and creatinine for a MELD formula.

    Floors at 1.0, creatinine capped at ``creatinine_cap``, dialysis forces
    creatinine to ``creatinine_cap`` (sections 1.2 and 1.4). A NaN in any lab
    or in ``dialysis`` yields NaN creatinine (so NaN propagates to the score).
    """
    bili = _as_lab(bilirubin_mg_dl, "bilirubin_mg_dl")
    inr_ = _as_lab(inr, "inr")
    creat = _as_lab(creatinine_mg_dl, "creatinine_mg_dl")
    dial = _as_flag(dialysis, "dialysis")

    bili = np.maximum(bili, _MELD_LAB_FLOOR)  # np.maximum propagates NaN
    inr_ = np.maximum(inr_, _MELD_LAB_FLOOR)
    creat = np.minimum(np.maximum(creat, _MELD_LAB_FLOOR), creatinine_cap)
    # dialysis == 1 -> cap value; NaN dialysis -> NaN; a NaN creatinine stays
    # NaN even on dialysis (it is a required input).
    creat = np.where(dial == 1, np.where(np.isnan(creat), np.nan, creatinine_cap), creat)
    creat = np.where(np.isnan(dial), np.nan, creat)
    return bili, inr_, creat


def _meld_ten_r(bili: np.ndarray, inr_: np.ndarray, creat: np.ndarray, etiology: ArrayLike) -> np.ndarray:
    """10*R on already-bounded labs (x10 form of the Kamath/OPTN equation)."""
    return (
        _MELD_C_CREAT * np.log(creat)
        + _MELD_C_BILI * np.log(bili)
        + _MELD_C_INR * np.log(inr_)
        + _MELD_C_ETIOLOGY * etiology
    )


# ---------------------------------------------------------------------------
# Unit conversions (section 3.1)
# ---------------------------------------------------------------------------
def bilirubin_umol_to_mg_dl(bilirubin_umol_l: ArrayLike) -> np.ndarray:
    """Bilirubin umol/L -> mg/dL (divide by 17.1; reference section 3.1)."""
    return np.asarray(_as_float(bilirubin_umol_l, "bilirubin_umol_l") / BILIRUBIN_UMOL_L_PER_MG_DL)


def bilirubin_mg_dl_to_umol(bilirubin_mg_dl: ArrayLike) -> np.ndarray:
    """Bilirubin mg/dL -> umol/L (multiply by 17.1; reference section 3.1)."""
    return np.asarray(_as_float(bilirubin_mg_dl, "bilirubin_mg_dl") * BILIRUBIN_UMOL_L_PER_MG_DL)


def creatinine_umol_to_mg_dl(creatinine_umol_l: ArrayLike) -> np.ndarray:
    """Creatinine umol/L -> mg/dL (divide by 88.4; reference section 3.1)."""
    return np.asarray(_as_float(creatinine_umol_l, "creatinine_umol_l") / CREATININE_UMOL_L_PER_MG_DL)


def creatinine_mg_dl_to_umol(creatinine_mg_dl: ArrayLike) -> np.ndarray:
    """Creatinine mg/dL -> umol/L (multiply by 88.4; reference section 3.1)."""
    return np.asarray(_as_float(creatinine_mg_dl, "creatinine_mg_dl") * CREATININE_UMOL_L_PER_MG_DL)


def albumin_g_l_to_g_dl(albumin_g_l: ArrayLike) -> np.ndarray:
    """Albumin g/L -> g/dL (divide by 10, exact; reference section 3.1)."""
    return np.asarray(_as_float(albumin_g_l, "albumin_g_l") / ALBUMIN_G_L_PER_G_DL)


def albumin_g_dl_to_g_l(albumin_g_dl: ArrayLike) -> np.ndarray:
    """Albumin g/dL -> g/L (multiply by 10, exact; reference section 3.1)."""
    return np.asarray(_as_float(albumin_g_dl, "albumin_g_dl") * ALBUMIN_G_L_PER_G_DL)


# ---------------------------------------------------------------------------
# UNOS/OPTN MELD (section 1.2)
# ---------------------------------------------------------------------------
def meld_unos_raw(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """Unrounded UNOS MELD, 10*R (reference section 1.2, OPTN Policy 9.1.D).

    R = 0.957 ln(Cr) + 0.378 ln(bili) + 1.120 ln(INR) + 0.643 with labs floored
    at 1.0, creatinine capped at 4.0 and set to 4.0 on dialysis. No rounding
    and no cap at 40 (this is the ``expected_unrounded`` of the MELD_UNOS
    vectors).
    """
    bili, inr_, creat = _meld_bounded_labs(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis, _MELD_CREATININE_CAP)
    return np.asarray(_meld_ten_r(bili, inr_, creat, 1.0))


def meld_unos(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """Integer UNOS MELD(i) (reference section 1.2, OPTN Policy 9.1.D).

    MELD(i) = round(R, 1) * 10, computed as round-half-up of 10*R (see the
    module docstring; exact .x5 ties are the only place this could differ from
    other rounding rules), then capped at 40. Minimum is 6. Returned as a
    float64 array of whole numbers (NaN where any input is NaN).
    """
    ten_r = meld_unos_raw(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis)
    return np.asarray(np.minimum(_round_half_up(ten_r), _MELD_MAX))


# ---------------------------------------------------------------------------
# Original Mayo / Kamath 2001 MELD with etiology (section 1.1)
# ---------------------------------------------------------------------------
_ETIOLOGY_ZERO = {"cholestatic", "alcoholic", "alcohol", "ethyltoxic", "cholestatic_or_alcoholic"}
_ETIOLOGY_ONE = {"other", "unos"}


def _etiology_indicator(etiology: ArrayLike) -> np.ndarray:
    """Map etiology to the 0/1 indicator of section 1.1 (NaN for missing).

    Numbers/bools: 1 = other causes, 0 = cholestatic or alcoholic. Strings
    (case-insensitive): "cholestatic", "alcoholic", "alcohol", "ethyltoxic",
    "cholestatic_or_alcoholic" -> 0; "other", "unos" -> 1. None/NaN -> NaN.
    """
    arr = np.asarray(etiology)
    if arr.dtype.kind in "biuf":
        return _as_flag(arr, "etiology")
    if arr.dtype.kind not in "UOS":
        raise TypeError(f"etiology must be 0/1, bool or a cause string; got dtype {arr.dtype}")
    uniq, inverse = np.unique(arr.astype(object).ravel().astype(str), return_inverse=True)
    mapped = np.empty(len(uniq), dtype=np.float64)
    for k, val in enumerate(uniq):
        key = val.strip().lower()
        if key in _ETIOLOGY_ZERO or key == "0":
            mapped[k] = 0.0
        elif key in _ETIOLOGY_ONE or key == "1":
            mapped[k] = 1.0
        elif key in {"none", "nan", ""}:
            mapped[k] = np.nan
        else:
            raise ValueError(
                f"etiology: unknown cause {val!r}; use one of "
                f"{sorted(_ETIOLOGY_ZERO | _ETIOLOGY_ONE)} or 0/1"
            )
    return mapped[inverse].reshape(arr.shape)


def meld_mayo_raw(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    etiology: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """Unrounded Mayo/Kamath 2001 MELD, 10*R with etiology term (section 1.1).

    9.57 ln(Cr) + 3.78 ln(bili) + 11.2 ln(INR) + 6.43 * etiology, where
    etiology = 0 if cholestatic or alcoholic and 1 otherwise (0/1, bool or a
    cause string, see :func:`_etiology_indicator`). Labs are bounded as the
    ameld reference implementation does (floor 1.0, creatinine cap 4.0,
    dialysis -> 4.0). No cap at 40.
    """
    bili, inr_, creat = _meld_bounded_labs(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis, _MELD_CREATININE_CAP)
    eti = _etiology_indicator(etiology)
    return np.asarray(_meld_ten_r(bili, inr_, creat, eti))


def meld_mayo(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    etiology: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """Mayo/Kamath 2001 MELD rounded to the nearest integer (section 1.1).

    Round-half-up of :func:`meld_mayo_raw` (module rounding rule).
    """
    return np.asarray(_round_half_up(meld_mayo_raw(bilirubin_mg_dl, inr, creatinine_mg_dl, etiology, dialysis)))


# ---------------------------------------------------------------------------
# MELD-Na (section 1.3)
# ---------------------------------------------------------------------------
def meld_na_unos2016_raw(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    sodium_mmol_l: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """UNOS/OPTN 2016 MELD-Na before final integer rounding (section 1.3).

    Uses the *policy-rounded* integer MELD(i) from :func:`meld_unos`. If
    MELD(i) > 11 (integer comparison): MELD(i) + 1.32*(137-Na)
    - 0.033*MELD(i)*(137-Na), with Na bounded to 125-137 mmol/L; otherwise
    MELD(i) unchanged.
    """
    meld_i = meld_unos(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis)
    na = _as_lab(sodium_mmol_l, "sodium_mmol_l")
    d = _MELDNA_UNOS_NA_MAX - np.clip(na, _MELDNA_UNOS_NA_MIN, _MELDNA_UNOS_NA_MAX)
    adjusted = meld_i + 1.32 * d - 0.033 * meld_i * d
    out = np.where(meld_i > _MELDNA_UNOS_THRESHOLD, adjusted, meld_i)
    # NaN sodium -> NaN even when MELD(i) <= 11 (sodium is a required input).
    return np.asarray(_nan_if(np.isnan(na), out))


def meld_na_unos2016(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    sodium_mmol_l: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """UNOS/OPTN 2016 MELD-Na as an integer (section 1.3).

    The final integer rounding (round half up, module rule) is the
    calculators' convention; the quoted policy text does not state it. The
    result never exceeds 40 (the sodium term vanishes at MELD(i) = 40); a
    ``min(., 40)`` guards against float noise.
    """
    raw = meld_na_unos2016_raw(bilirubin_mg_dl, inr, creatinine_mg_dl, sodium_mmol_l, dialysis)
    return np.asarray(np.minimum(_round_half_up(raw), _MELD_MAX))


def meld_na_kim2008_raw(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    sodium_mmol_l: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """Kim 2008 (NEJM 359:1018) research MELD-Na, unrounded (section 1.3).

    MELD - Na - 0.025*MELD*(140 - Na) + 140 with Na bounded to 125-140 and
    MELD the *unrounded* UNOS MELD 10*R (:func:`meld_unos_raw`), as in the
    transplantr and ameld implementations. As in ameld ``type="kim2008"`` the
    formula is applied at every MELD (no "> 11" condition) and not capped.
    """
    meld = meld_unos_raw(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis)
    na = np.clip(_as_lab(sodium_mmol_l, "sodium_mmol_l"), _MELDNA_KIM_NA_MIN, _MELDNA_KIM_NA_MAX)
    return np.asarray(meld - na - 0.025 * meld * (140.0 - na) + 140.0)


def meld_na_kim2008(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    sodium_mmol_l: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """Kim 2008 MELD-Na rounded to the nearest integer (section 1.3).

    Round-half-up (module rule) of :func:`meld_na_kim2008_raw`.
    """
    raw = meld_na_kim2008_raw(bilirubin_mg_dl, inr, creatinine_mg_dl, sodium_mmol_l, dialysis)
    return np.asarray(_round_half_up(raw))


# ---------------------------------------------------------------------------
# MELD 3.0 (section 1.4)
# ---------------------------------------------------------------------------
def meld_3_raw(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    sodium_mmol_l: ArrayLike,
    albumin_g_dl: ArrayLike,
    female: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """MELD 3.0 raw linear predictor (Kim 2021, Gastroenterology; section 1.4).

    1.33*female + 4.56 ln(bili) + 0.82 (137-Na) - 0.24 (137-Na) ln(bili)
    + 9.09 ln(INR) + 11.14 ln(Cr) + 1.85 (3.5-Alb) - 1.83 (3.5-Alb) ln(Cr) + 6,
    with bili/INR/Cr floored at 1.0, Cr capped at 3.0 (dialysis -> 3.0),
    Na bounded 125-137 mmol/L and albumin 1.5-3.5 g/dL. Not rounded, not
    bounded to 6-40 (store both, per section 1.4).
    """
    bili, inr_, creat = _meld_bounded_labs(bilirubin_mg_dl, inr, creatinine_mg_dl, dialysis, _MELD3_CREATININE_CAP)
    na = _as_lab(sodium_mmol_l, "sodium_mmol_l")
    alb = _as_lab(albumin_g_dl, "albumin_g_dl")
    fem = _as_flag(female, "female")
    s = _MELD3_NA_MAX - np.clip(na, _MELD3_NA_MIN, _MELD3_NA_MAX)
    a = _MELD3_ALB_MAX - np.clip(alb, _MELD3_ALB_MIN, _MELD3_ALB_MAX)
    lb = np.log(bili)
    lc = np.log(creat)
    # Interaction terms are factored onto ln(lab) so each ln(lab) appears once
    # with a coefficient that is positive over the bounded domain
    # (4.56 - 0.24*12 = 1.68 > 0; 11.14 - 1.83*2 = 7.48 > 0). Algebraically
    # identical to the published form; keeps the float result monotone.
    return np.asarray(
        1.33 * fem
        + lb * (4.56 - 0.24 * s)
        + 0.82 * s
        + 9.09 * np.log(inr_)
        + lc * (11.14 - 1.83 * a)
        + 1.85 * a
        + 6.0
    )


def meld_3(
    bilirubin_mg_dl: ArrayLike,
    inr: ArrayLike,
    creatinine_mg_dl: ArrayLike,
    sodium_mmol_l: ArrayLike,
    albumin_g_dl: ArrayLike,
    female: ArrayLike,
    dialysis: ArrayLike = False,
) -> np.ndarray:
    """MELD 3.0 for allocation: integer, bounded 6-40 (section 1.4).

    Round-half-up (module rule) of :func:`meld_3_raw`, then clipped to
    [6, 40] as OPTN and the calculators do. Use :func:`meld_3_raw` for the
    unbounded research value.
    """
    raw = meld_3_raw(bilirubin_mg_dl, inr, creatinine_mg_dl, sodium_mmol_l, albumin_g_dl, female, dialysis)
    return np.asarray(np.clip(_round_half_up(raw), _MELD3_MIN, _MELD3_MAX))


# ---------------------------------------------------------------------------
# Child-Turcotte-Pugh (section 2.1)
# ---------------------------------------------------------------------------
class ChildPughResult(NamedTuple):
    """Child-Pugh total score (float64, 5-15 or NaN) and class ('A'/'B'/'C'/None)."""

    score: np.ndarray
    child_class: np.ndarray


def child_pugh(
    bilirubin_mg_dl: ArrayLike,
    albumin_g_dl: ArrayLike,
    inr: ArrayLike,
    ascites_points: ArrayLike,
    encephalopathy_points: ArrayLike,
) -> ChildPughResult:
    """Child-Turcotte-Pugh score and class (Pugh 1973; reference section 2.1).

    Boundary convention of section 2.1: bilirubin < 2 -> 1, <= 3 -> 2, else 3;
    albumin > 3.5 -> 1, >= 2.8 -> 2, else 3; INR < 1.7 -> 1, <= 2.3 -> 2,
    else 3. ``ascites_points`` and ``encephalopathy_points`` are the clinical
    points (1, 2 or 3) already assigned. Class A = 5-6, B = 7-9, C = 10-15.
    Returns ``(score, child_class)``; class is an object array holding 'A',
    'B', 'C' or None where the score is NaN. Standard (non-PBC/PSC)
    bilirubin cut-points only.
    """
    bili = _as_lab(bilirubin_mg_dl, "bilirubin_mg_dl")
    alb = _as_lab(albumin_g_dl, "albumin_g_dl")
    inr_ = _as_lab(inr, "inr")
    asc = _as_points(ascites_points, "ascites_points")
    he = _as_points(encephalopathy_points, "encephalopathy_points")

    p_bili = np.where(bili < 2.0, 1.0, np.where(bili <= 3.0, 2.0, 3.0))
    p_alb = np.where(alb > 3.5, 1.0, np.where(alb >= 2.8, 2.0, 3.0))
    p_inr = np.where(inr_ < 1.7, 1.0, np.where(inr_ <= 2.3, 2.0, 3.0))
    missing = np.isnan(bili) | np.isnan(alb) | np.isnan(inr_)
    score = np.asarray(_nan_if(missing, p_bili + p_alb + p_inr) + asc + he)

    cls = np.full(score.shape, None, dtype=object)
    cls[score <= _CP_CLASS_A_MAX] = "A"
    cls[(score > _CP_CLASS_A_MAX) & (score <= _CP_CLASS_B_MAX)] = "B"
    cls[score > _CP_CLASS_B_MAX] = "C"
    return ChildPughResult(score=score, child_class=cls)


# ---------------------------------------------------------------------------
# ALBI (section 2.2)
# ---------------------------------------------------------------------------
def albi(bilirubin_umol_l: ArrayLike, albumin_g_l: ArrayLike) -> np.ndarray:
    """ALBI score = 0.66 log10(bilirubin umol/L) - 0.085 albumin (g/L).

    Johnson PJ et al., J Clin Oncol 2015;33(6):550-8 (reference section 2.2),
    with the published -0.085 coefficient (see ``ALBI_ALBUMIN_COEF`` for why
    not -0.0852). Note the SI units: convert mg/dL bilirubin with
    :func:`bilirubin_mg_dl_to_umol` and g/dL albumin with
    :func:`albumin_g_dl_to_g_l`.
    """
    bili = _as_lab(bilirubin_umol_l, "bilirubin_umol_l")
    alb = _as_lab(albumin_g_l, "albumin_g_l")
    return np.asarray(ALBI_BILIRUBIN_COEF * np.log10(bili) + ALBI_ALBUMIN_COEF * alb)


def albi_grade(score: ArrayLike) -> np.ndarray:
    """ALBI grade from the ALBI score (Johnson 2015; reference section 2.2).

    Grade 1: score <= -2.60; grade 2: -2.60 < score <= -1.39; grade 3:
    score > -1.39. Returned as float64 (1.0/2.0/3.0, NaN for NaN scores).
    """
    s = _as_float(score, "score")
    grade = np.where(s <= ALBI_GRADE1_MAX, 1.0, np.where(s <= ALBI_GRADE2_MAX, 2.0, 3.0))
    return np.asarray(_nan_if(np.isnan(s), grade))
