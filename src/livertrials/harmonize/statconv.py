"""Convert reported summary statistics to means and standard deviations.

Pure scalar functions with no I/O. They cover:

* median/IQR/range -> mean/SD, following metafor's ``conv.fivenum`` with its
  default ``method="rec"`` (Luo 2018 means; Wan 2014 / Shi 2020 SDs). This
  includes the Shi 2023 skewness pre-tests (metafor's default ``test=TRUE``).
  Hozo 2005 is available as a documented alternative.
* Cochrane Handbook chapter 6, section 6.5.2: SD from an SE or a CI, the SE of
  a mean difference, the SD of change from baseline, and combining groups.

Sources are cited per function as "F&M 4.1" / "F&M 4.2". These are sections
of the project reference note ``docs/formulas-and-methods.md``, which the tests
do not read.

Conventions
-----------
* Scalars go in and plain ``float`` values come out. ``NaN`` means "not
  estimable", and the ``note`` field of :class:`Conversion` says why.
* A missing input (``None`` or ``NaN``) gives a NaN result with a note. It
  does not raise an error.
* Invalid input raises :class:`ValueError`. Examples: quantiles out of order,
  a negative SE or SD, a lower CI bound above the upper one, a correlation
  outside [-1, 1], or an infinite value.
* Estimated SDs are less precise than reported ones (McGrath 2023, SMMR
  32:373-88). Downstream code should flag studies whose ``method`` is not
  ``"as_reported"`` and run a sensitivity analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from scipy import special

from livertrials import distributions

__all__ = [
    "Conversion",
    "SkewnessTest",
    "CombinedGroups",
    "METHOD_IQR",
    "METHOD_RANGE",
    "METHOD_FIVENUM",
    "METHOD_HOZO",
    "METHOD_SE",
    "METHOD_CI_Z",
    "METHOD_CI_T",
    "METHOD_AS_REPORTED",
    "MIN_N_FIVENUM",
    "SMALL_SAMPLE_T_THRESHOLD",
    "xi",
    "eta",
    "skewness_test",
    "from_median_iqr",
    "from_median_range",
    "from_five_numbers",
    "hozo_from_median_range",
    "as_reported",
    "sd_from_se",
    "sd_from_ci",
    "se_of_difference_from_ci",
    "se_of_difference_from_t",
    "se_of_difference_from_p",
    "sd_from_se_of_difference",
    "sd_change",
    "corr_from_sds",
    "combine_groups",
    "combine_events",
]

# Stable method identifiers. Downstream code may store them, so do not rename.
METHOD_IQR = "wan2014_luo2018_iqr"  # Luo 2018 eq.11 mean, Wan 2014 eq.16 SD
METHOD_RANGE = "luo2018_wan2014_range"  # Luo 2018 eq.7 mean, Wan 2014 eq.9 SD
METHOD_FIVENUM = "luo2018_shi2020_fivenum"  # Luo 2018 eq.15 mean, Shi 2020 eq.10 SD
METHOD_HOZO = "hozo2005_range"
METHOD_SE = "se_to_sd"
METHOD_CI_Z = "ci_to_sd_z"
METHOD_CI_T = "ci_to_sd_t"
METHOD_AS_REPORTED = "as_reported"

#: metafor ``conv.fivenum`` does not convert rows with n < 5.
MIN_N_FIVENUM = 5
#: Cochrane 6.5.2.2: use t rather than z when the group is "say less than 60".
SMALL_SAMPLE_T_THRESHOLD = 60

_NAN = float("nan")


@dataclass(frozen=True)
class Conversion:
    """Result of one conversion.

    Attributes
    ----------
    mean, sd:
        Estimated (or passed-through) mean and SD. ``NaN`` when not estimable,
        or when a function gives only one of the two (e.g. :func:`sd_from_se`
        without a ``mean``).
    method:
        Stable identifier of the method (one of the ``METHOD_*`` constants).
    note:
        Free text for reviewers, e.g. why the result is NaN or that the
        skewness test was significant. Empty when there is nothing to report.
    """

    mean: float
    sd: float
    method: str
    note: str = ""

    @property
    def estimable(self) -> bool:
        """True when the SD is a finite number."""
        return math.isfinite(self.sd)


class SkewnessTest(NamedTuple):
    """Shi 2023 skewness test result (statistic >= critical means significant)."""

    statistic: float
    critical: float
    significant: bool


class CombinedGroups(NamedTuple):
    """Pooled sample size, mean and SD of merged groups (Cochrane Table 6.5.a)."""

    n: float
    mean: float
    sd: float


# --------------------------------------------------------------------------
# internal helpers
# --------------------------------------------------------------------------


def _num(x: object, name: str) -> float:
    """Convert to float. None becomes NaN, and +-inf raises ValueError."""
    if x is None:
        return _NAN
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {x!r}") from exc
    if math.isinf(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def _missing(**values: float) -> list[str]:
    return [k for k, v in values.items() if math.isnan(v)]


def _check_order(pairs: Sequence[tuple[str, float]]) -> None:
    """Raise ValueError naming each adjacent pair that breaks the ordering.

    Missing values (NaN) are skipped, as with R's ``is.unsorted(na.rm=TRUE)``.
    """
    present = [(k, v) for k, v in pairs if not math.isnan(v)]
    bad = [
        f"{k1}={v1:g} > {k2}={v2:g}"
        for (k1, v1), (k2, v2) in zip(present, present[1:])
        if v1 > v2
    ]
    if bad:
        expected = " <= ".join(k for k, _ in pairs)
        raise ValueError(
            f"values out of order (expected {expected}): " + "; ".join(bad)
        )


def _ratio(num: float, den: float) -> float:
    """|num| / den, or NaN when den == 0. R gives NaN for 0/0, which the test treats as not significant."""
    if den == 0:
        return _NAN
    return abs(num) / den


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------
# median / IQR / range  (F&M 4.1; metafor R/conv.fivenum.r)
# --------------------------------------------------------------------------


def xi(n: float) -> float:
    """Wan 2014 range divisor: xi(n) = 2 * Phi^-1((n - 0.375) / (n + 0.25)).

    Source: Wan et al. 2014 eq. 9; F&M 4.1. Example: xi(20) = 3.736483.
    """
    n = float(n)
    return float(2.0 * special.ndtri((n - 0.375) / (n + 0.25)))


def eta(n: float) -> float:
    """Wan 2014 IQR divisor: eta(n) = 2 * Phi^-1((0.75 n - 0.125) / (n + 0.25)).

    Source: Wan et al. 2014 eq. 16; F&M 4.1. Example: eta(20) = 1.253375.
    """
    n = float(n)
    return float(2.0 * special.ndtri((0.75 * n - 0.125) / (n + 0.25)))


def _c1_stat(a: float, m: float, b: float) -> float:
    return _ratio(a + b - 2.0 * m, b - a)


def _c2_stat(q1: float, m: float, q3: float) -> float:
    return _ratio(q1 + q3 - 2.0 * m, q3 - q1)


def skewness_test(
    minimum: float | None,
    q1: float | None,
    median: float,
    q3: float | None,
    maximum: float | None,
    n: float,
) -> SkewnessTest:
    """Shi et al. 2023 test for skewness, as in metafor ``conv.fivenum``.

    Pass ``None`` (or NaN) for values that were not reported. The case
    follows from which values are present:

    * C1 (min, median, max):
      ``T = |a + b - 2m| / (b - a)``, critical ``1/ln(n+9) + 2.5/(n+1)``
    * C2 (q1, median, q3):
      ``T = |q1 + q3 - 2m| / (q3 - q1)``, critical ``2.65/sqrt(n) - 6/n^2``
    * C3 (all five):
      ``T = max(2.65 ln(0.6 n)/sqrt(n) * T1, T2)``, critical ``3/sqrt(n) - 40/n^3``

    The result is significant when ``statistic >= critical``. Source: Shi et
    al. 2023 (SMMR 32:1338-60); F&M 4.1; metafor R/conv.fivenum.r.

    Edge cases (as metafor): with zero spread the statistic is 0/0 = NaN,
    and NaN is "not significant". For C3, a NaN in either component makes
    the statistic NaN, as R's ``max(x, NaN)`` does. When n < 5 or n is
    missing, the critical value (and the C3 statistic, which depends on n)
    is NaN and the result is not significant
    (metafor does not convert such rows).

    Raises ValueError when the values are out of order, or when they form
    none of the three cases.
    """
    a = _num(minimum, "minimum")
    lo = _num(q1, "q1")
    m = _num(median, "median")
    hi = _num(q3, "q3")
    b = _num(maximum, "maximum")
    nn = _num(n, "n")
    _check_order(
        [("minimum", a), ("q1", lo), ("median", m), ("q3", hi), ("maximum", b)]
    )
    if math.isnan(m):
        raise ValueError("skewness_test needs the median")
    has_range = not (math.isnan(a) or math.isnan(b))
    has_iqr = not (math.isnan(lo) or math.isnan(hi))

    if has_range and has_iqr:
        t1, t2 = _c1_stat(a, m, b), _c2_stat(lo, m, hi)
        n_ok = not math.isnan(nn) and nn >= MIN_N_FIVENUM
        if math.isnan(t1) or math.isnan(t2) or not n_ok:
            stat = _NAN  # undefined: zero spread (R's max(x, NaN)) or n < 5
        else:
            stat = max(2.65 * math.log(0.6 * nn) / math.sqrt(nn) * t1, t2)
        crit = 3.0 / math.sqrt(nn) - 40.0 / nn**3 if n_ok else _NAN
    elif has_range:
        stat = _c1_stat(a, m, b)
        n_ok = not math.isnan(nn) and nn >= MIN_N_FIVENUM
        crit = 1.0 / math.log(nn + 9.0) + 2.5 / (nn + 1.0) if n_ok else _NAN
    elif has_iqr:
        stat = _c2_stat(lo, m, hi)
        n_ok = not math.isnan(nn) and nn >= MIN_N_FIVENUM
        crit = 2.65 / math.sqrt(nn) - 6.0 / nn**2 if n_ok else _NAN
    else:
        raise ValueError(
            "skewness_test needs (minimum, median, maximum), (q1, median, q3) "
            "or all five values"
        )
    significant = bool(
        not math.isnan(stat) and not math.isnan(crit) and stat >= crit
    )
    return SkewnessTest(float(stat), float(crit), significant)


def _prepare(
    method: str,
    values: list[tuple[str, object]],
    n: object,
    skew_test: bool,
) -> tuple[dict[str, float], float, Conversion | None, str]:
    """Shared checks for the quantile-based conversions.

    Returns (values, n, early_result_or_None, note).
    """
    vals = {k: _num(v, k) for k, v in values}
    nn = _num(n, "n")
    _check_order(list(vals.items()))
    missing = _missing(**vals, n=nn)
    if missing:
        return vals, nn, Conversion(
            _NAN, _NAN, method, "not estimated: missing " + ", ".join(missing)
        ), ""
    if nn < MIN_N_FIVENUM:
        return vals, nn, Conversion(
            _NAN,
            _NAN,
            method,
            f"not estimated: n={nn:g} < {MIN_N_FIVENUM} (metafor conv.fivenum excludes n < 5)",
        ), ""

    st = skewness_test(
        vals.get("minimum"),
        vals.get("q1"),
        vals["median"],
        vals.get("q3"),
        vals.get("maximum"),
        nn,
    )
    label = {
        frozenset({"minimum", "median", "maximum"}): "C1",
        frozenset({"q1", "median", "q3"}): "C2",
    }.get(frozenset(vals), "C3")
    desc = f"Shi 2023 {label} statistic {st.statistic:.4g} vs critical {st.critical:.4g}"
    if st.significant:
        if skew_test:
            return vals, nn, Conversion(
                _NAN,
                _NAN,
                method,
                f"not estimated: skewness test significant ({desc}); "
                "data look skewed, consider reporting as median or a log-normal method",
            ), ""
        return vals, nn, None, (
            f"skewness test significant ({desc}); estimate computed because "
            "skew_test=False, normality assumption questionable"
        )
    if math.isnan(st.statistic):
        return vals, nn, None, (
            "skewness statistic undefined (zero range or IQR width); treated as not significant, as metafor does"
        )
    return vals, nn, None, ""


def from_median_iqr(
    q1: float, median: float, q3: float, n: float, *, skew_test: bool = True
) -> Conversion:
    """Mean and SD from the median and the quartiles (metafor case 2).

    * mean (Luo 2018 eq. 11): ``w = 0.7 + 0.39/n``;
      ``mean = w (q1+q3)/2 + (1-w) m``
    * SD (Wan 2014 eq. 16): ``(q3 - q1) / eta(n)``

    Source: F&M 4.1; metafor R/conv.fivenum.r (``method="rec"``,
    ``dist="norm"``). The C2 skewness test runs first. When it is
    significant and ``skew_test`` is true, mean and SD are NaN, as with
    metafor's ``test=TRUE``. When n < 5, nothing is estimated.
    Method id: ``"wan2014_luo2018_iqr"``.
    """
    vals, nn, early, note = _prepare(
        METHOD_IQR, [("q1", q1), ("median", median), ("q3", q3)], n, skew_test
    )
    if early is not None:
        return early
    lo, m, hi = vals["q1"], vals["median"], vals["q3"]
    w = 0.7 + 0.39 / nn
    mean = w * (lo + hi) / 2.0 + (1.0 - w) * m
    sd = (hi - lo) / eta(nn)
    return Conversion(float(mean), float(sd), METHOD_IQR, note)


def from_median_range(
    minimum: float, median: float, maximum: float, n: float, *, skew_test: bool = True
) -> Conversion:
    """Mean and SD from the median and the range (metafor case 1).

    * mean (Luo 2018 eq. 7): ``w = 4/(4 + n^0.75)``;
      ``mean = w (a+b)/2 + (1-w) m``
    * SD (Wan 2014 eq. 9): ``(b - a) / xi(n)``

    Source: F&M 4.1; metafor R/conv.fivenum.r (``method="rec"``). The C1
    skewness test runs first (see :func:`from_median_iqr`). When n < 5,
    nothing is estimated. Method id: ``"luo2018_wan2014_range"``.
    """
    vals, nn, early, note = _prepare(
        METHOD_RANGE,
        [("minimum", minimum), ("median", median), ("maximum", maximum)],
        n,
        skew_test,
    )
    if early is not None:
        return early
    a, m, b = vals["minimum"], vals["median"], vals["maximum"]
    w = 4.0 / (4.0 + nn**0.75)
    mean = w * (a + b) / 2.0 + (1.0 - w) * m
    sd = (b - a) / xi(nn)
    return Conversion(float(mean), float(sd), METHOD_RANGE, note)


def from_five_numbers(
    minimum: float,
    q1: float,
    median: float,
    q3: float,
    maximum: float,
    n: float,
    *,
    skew_test: bool = True,
) -> Conversion:
    """Mean and SD from min, q1, median, q3 and max (metafor case 3).

    * mean (Luo 2018 eq. 15): ``w1 = 2.2/(2.2 + n^0.75)``,
      ``w2 = 0.7 - 0.72/n^0.55``;
      ``mean = w1 (a+b)/2 + w2 (q1+q3)/2 + (1-w1-w2) m``
    * SD (Shi 2020 eq. 10): ``w = 1/(1 + 0.07 n^0.6)``;
      ``SD = w (b-a)/xi(n) + (1-w) (q3-q1)/eta(n)``

    Source: F&M 4.1; metafor R/conv.fivenum.r (``method="rec"``). The C3
    skewness test runs first (see :func:`from_median_iqr`). When n < 5,
    nothing is estimated. Method id: ``"luo2018_shi2020_fivenum"``.
    """
    vals, nn, early, note = _prepare(
        METHOD_FIVENUM,
        [
            ("minimum", minimum),
            ("q1", q1),
            ("median", median),
            ("q3", q3),
            ("maximum", maximum),
        ],
        n,
        skew_test,
    )
    if early is not None:
        return early
    a, lo, m, hi, b = (
        vals["minimum"],
        vals["q1"],
        vals["median"],
        vals["q3"],
        vals["maximum"],
    )
    w1 = 2.2 / (2.2 + nn**0.75)
    w2 = 0.7 - 0.72 / nn**0.55
    mean = w1 * (a + b) / 2.0 + w2 * (lo + hi) / 2.0 + (1.0 - w1 - w2) * m
    w = 1.0 / (1.0 + 0.07 * nn**0.6)
    sd = w * (b - a) / xi(nn) + (1.0 - w) * (hi - lo) / eta(nn)
    return Conversion(float(mean), float(sd), METHOD_FIVENUM, note)


def hozo_from_median_range(
    minimum: float, median: float, maximum: float, n: float, *, skew_test: bool = True
) -> Conversion:
    """Hozo et al. 2005 mean and SD from the median and the range.

    This is an alternative kept for sensitivity analyses. Wan 2014 and
    Luo 2018 (:func:`from_median_range`) supersede it.

    * mean = ``(a + 2m + b)/4`` if n <= 25, else ``m``
    * SD = ``sqrt(((a - 2m + b)^2/4 + (b - a)^2)/12)`` if n <= 15;
      ``(b-a)/4`` if 15 < n <= 70; ``(b-a)/6`` if n > 70

    Source: Hozo 2005 (BMC Med Res Methodol 5:13); F&M 4.1; metafor
    ``method="hozo2005"``. As in metafor, the C1 skewness test and the
    n < 5 exclusion apply. Method id: ``"hozo2005_range"``.
    """
    vals, nn, early, note = _prepare(
        METHOD_HOZO,
        [("minimum", minimum), ("median", median), ("maximum", maximum)],
        n,
        skew_test,
    )
    if early is not None:
        return early
    a, m, b = vals["minimum"], vals["median"], vals["maximum"]
    mean = (a + 2.0 * m + b) / 4.0 if nn <= 25 else m
    if nn <= 15:
        # sqrt(((a-2m+b)^2/4 + (b-a)^2)/12), written with hypot to avoid under/overflow
        sd = math.hypot((a - 2.0 * m + b) / 2.0, b - a) / math.sqrt(12.0)
    elif nn <= 70:
        sd = (b - a) / 4.0
    else:
        sd = (b - a) / 6.0
    return Conversion(float(mean), float(sd), METHOD_HOZO, note)


def as_reported(mean: float, sd: float) -> Conversion:
    """Wrap a mean and SD that the study reported directly (method ``"as_reported"``)."""
    mu = _num(mean, "mean")
    s = _num(sd, "sd")
    if s < 0:
        raise ValueError(f"sd must be >= 0, got {s:g}")
    missing = _missing(mean=mu, sd=s)
    note = ("missing " + ", ".join(missing)) if missing else ""
    return Conversion(mu, s, METHOD_AS_REPORTED, note)


# --------------------------------------------------------------------------
# Cochrane Handbook 6.5.2  (F&M 4.2)
# --------------------------------------------------------------------------


def _check_n(nn: float, name: str = "n") -> None:
    if not math.isnan(nn) and nn <= 0:
        raise ValueError(f"{name} must be > 0, got {nn:g}")


def _check_level(level: float) -> float:
    lv = float(level)
    if not 0.0 < lv < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {lv:g}")
    return lv


def sd_from_se(se: float, n: float, mean: float | None = None) -> Conversion:
    """SD of a group from the SE of its mean: ``SD = SE * sqrt(N)``.

    Source: Cochrane Handbook 6.5.2.2; F&M 4.2. ``mean`` is passed through
    unchanged (NaN when not given). Method id: ``"se_to_sd"``.
    """
    s = _num(se, "se")
    nn = _num(n, "n")
    mu = _num(mean, "mean")
    if s < 0:
        raise ValueError(f"se must be >= 0, got {s:g}")
    _check_n(nn)
    missing = _missing(se=s, n=nn)
    if missing:
        return Conversion(mu, _NAN, METHOD_SE, "not estimated: missing " + ", ".join(missing))
    return Conversion(mu, float(s * math.sqrt(nn)), METHOD_SE, "")


def sd_from_ci(
    lower: float,
    upper: float,
    n: float,
    level: float = 0.95,
    use_t: bool | None = None,
    mean: float | None = None,
) -> Conversion:
    """SD of a group from the confidence interval of its mean.

    ``SD = sqrt(N) * (upper - lower) / d``. The divisor d is
    ``2 * z_{(1+level)/2}`` (3.92 for 95%), or ``2 * t_{(1+level)/2, N-1}`` for
    small samples. For example, N = 25 gives d = 2 * 2.0639 = 4.128.

    * ``use_t=None`` (the default) uses t when ``n < 60``. This follows the
      handbook's "say less than 60 in each group". For 60 to 100 the handbook
      allows either, so pass ``use_t`` explicitly if the paper says which.
    * The z divisor uses the exact normal quantile (3.919928 for 95%). The
      handbook rounds it to 3.92, and the difference is below 0.002%.
    * The returned mean is the reported ``mean`` when given, otherwise the
      CI midpoint. When ``mean`` is given and the CI is asymmetric around it
      by more than 1% of the CI width, the note says so. Such a CI was
      probably computed on a log scale, and then this formula is
      inappropriate.

    Source: Cochrane Handbook 6.5.2.2; F&M 4.2. Method id: ``"ci_to_sd_t"``
    or ``"ci_to_sd_z"``.
    """
    lo = _num(lower, "lower")
    hi = _num(upper, "upper")
    nn = _num(n, "n")
    mu = _num(mean, "mean")
    lv = _check_level(level)
    _check_n(nn)
    if not (math.isnan(lo) or math.isnan(hi)) and lo > hi:
        raise ValueError(f"values out of order: lower={lo:g} > upper={hi:g}")
    if use_t is None:
        use_t = not math.isnan(nn) and nn < SMALL_SAMPLE_T_THRESHOLD
    method = METHOD_CI_T if use_t else METHOD_CI_Z

    missing = _missing(lower=lo, upper=hi, n=nn)
    if missing:
        return Conversion(mu, _NAN, method, "not estimated: missing " + ", ".join(missing))

    notes: list[str] = []
    width = hi - lo
    if math.isnan(mu):
        out_mean = (lo + hi) / 2.0
        notes.append("mean taken as CI midpoint")
    else:
        out_mean = mu
        if not lo <= mu <= hi:
            notes.append(f"reported mean {mu:g} lies outside the CI [{lo:g}, {hi:g}]")
        elif width > 0:
            asym = abs((mu - lo) - (hi - mu)) / width
            if asym > 0.01:
                notes.append(
                    f"CI asymmetric around the reported mean ({100 * asym:.1f}% of width); "
                    "possibly a log-scale CI, SD estimate questionable"
                )

    q = (1.0 + lv) / 2.0
    if use_t:
        if nn < 2:
            return Conversion(
                float(out_mean), _NAN, method, _join("not estimated: t needs n >= 2", *notes)
            )
        divisor = 2.0 * float(distributions.t_ppf(q, nn - 1.0))
    else:
        divisor = 2.0 * float(special.ndtri(q))
    sd = math.sqrt(nn) * width / divisor
    return Conversion(float(out_mean), float(sd), method, _join(*notes))


def se_of_difference_from_ci(
    lower: float, upper: float, level: float = 0.95, df: float | None = None
) -> float:
    """SE of a mean difference from its confidence interval.

    ``SE = (upper - lower) / (2 * z_{(1+level)/2})``, which is the handbook's
    ``/3.92`` for 95%. When ``df`` is given (``N_E + N_C - 2`` in the
    handbook), ``2 * t_{(1+level)/2, df}`` is the divisor instead. Missing
    bounds give NaN.

    Source: Cochrane Handbook 6.5.2.3; F&M 4.2.
    """
    lo = _num(lower, "lower")
    hi = _num(upper, "upper")
    lv = _check_level(level)
    if not (math.isnan(lo) or math.isnan(hi)) and lo > hi:
        raise ValueError(f"values out of order: lower={lo:g} > upper={hi:g}")
    q = (1.0 + lv) / 2.0
    if df is None:
        divisor = 2.0 * float(special.ndtri(q))
    else:
        d = float(df)
        if not d > 0:
            raise ValueError(f"df must be > 0, got {d:g}")
        divisor = 2.0 * float(distributions.t_ppf(q, d))
    return float((hi - lo) / divisor)


def se_of_difference_from_t(md: float, t: float) -> float:
    """SE of a mean difference from its t statistic: ``SE = |MD / t|``.

    Returns NaN when ``t == 0`` or an input is missing. Source: Cochrane
    Handbook 6.5.2.3; F&M 4.2.
    """
    d = _num(md, "md")
    tt = _num(t, "t")
    if math.isnan(d) or math.isnan(tt) or tt == 0:
        return _NAN
    return float(abs(d / tt))


def se_of_difference_from_p(md: float, p: float, df: float | None) -> float:
    """SE of a mean difference from an exact two-sided P value.

    ``t = t^-1(1 - P/2; df)``, then ``SE = |MD| / t``. When ``df`` is
    ``None`` or infinite, the normal quantile is used. Returns NaN for a
    missing input or P = 1 (t = 0). Only exact P values work: "P < 0.05"
    gives only a bound.

    Source: Cochrane Handbook 6.5.2.3; F&M 4.2.
    """
    d = _num(md, "md")
    pp = float(p) if p is not None else _NAN
    if not math.isnan(pp) and not 0.0 < pp <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {pp:g}")
    if math.isnan(d) or math.isnan(pp):
        return _NAN
    if df is None or math.isinf(float(df)):
        t = float(special.ndtri(1.0 - pp / 2.0))
    else:
        dd = float(df)
        if not dd > 0:
            raise ValueError(f"df must be > 0, got {dd:g}")
        t = float(distributions.t_ppf(1.0 - pp / 2.0, dd))
    return se_of_difference_from_t(d, t)


def sd_from_se_of_difference(se: float, n1: float, n2: float) -> float:
    """Pooled within-group SD from the SE of a difference in means.

    ``SD = SE / sqrt(1/N_E + 1/N_C)``. Use the result as the SD of both arms.
    Source: Cochrane Handbook 6.5.2.3; F&M 4.2.
    """
    s = _num(se, "se")
    a = _num(n1, "n1")
    b = _num(n2, "n2")
    if s < 0:
        raise ValueError(f"se must be >= 0, got {s:g}")
    _check_n(a, "n1")
    _check_n(b, "n2")
    if _missing(se=s, n1=a, n2=b):
        return _NAN
    return float(s / math.sqrt(1.0 / a + 1.0 / b))


def sd_change(sd_baseline: float, sd_final: float, corr: float) -> float:
    """Impute the SD of change from baseline.

    ``SD_change = sqrt(SD_b^2 + SD_f^2 - 2 r SD_b SD_f)``

    Source: Cochrane Handbook 6.5.2.8 (Follmann 1992; Abrams 2005); F&M 4.2.
    Take ``corr`` from studies that report all three SDs (see
    :func:`corr_from_sds`) and vary it in sensitivity analyses. When
    r < 0.5, analysing final values is more precise than analysing change.
    """
    b = _num(sd_baseline, "sd_baseline")
    f = _num(sd_final, "sd_final")
    r = _num(corr, "corr")
    for name, v in (("sd_baseline", b), ("sd_final", f)):
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v:g}")
    if not math.isnan(r) and not -1.0 <= r <= 1.0:
        raise ValueError(f"corr must be in [-1, 1], got {r:g}")
    if _missing(sd_baseline=b, sd_final=f, corr=r):
        return _NAN
    var = b * b + f * f - 2.0 * r * b * f
    return float(math.sqrt(max(var, 0.0)))  # guard tiny negative rounding at r = 1


def corr_from_sds(sd_baseline: float, sd_final: float, sd_change: float) -> float:
    """Back-calculate the baseline-final correlation from three reported SDs.

    ``Corr = (SD_b^2 + SD_f^2 - SD_change^2) / (2 SD_b SD_f)``

    Source: Cochrane Handbook 6.5.2.8; F&M 4.2. Returns NaN when an SD is
    zero or missing. The value is not clipped: a result outside [-1, 1]
    means the three SDs are mutually inconsistent, and the caller should
    check them.
    """
    b = _num(sd_baseline, "sd_baseline")
    f = _num(sd_final, "sd_final")
    c = _num(sd_change, "sd_change")
    for name, v in (("sd_baseline", b), ("sd_final", f), ("sd_change", c)):
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v:g}")
    if _missing(sd_baseline=b, sd_final=f, sd_change=c) or b == 0 or f == 0:
        return _NAN
    return float((b * b + f * f - c * c) / (2.0 * b * f))


def combine_groups(
    ns: Sequence[float], means: Sequence[float], sds: Sequence[float]
) -> CombinedGroups:
    """Merge groups into one (Cochrane Handbook Table 6.5.a).

    For two groups::

        N    = N1 + N2
        Mean = (N1 M1 + N2 M2) / N
        SD   = sqrt(((N1-1) SD1^2 + (N2-1) SD2^2
                     + N1 N2 / N * (M1^2 + M2^2 - 2 M1 M2)) / (N - 1))

    With more than two groups, the formula is applied one group at a time,
    in the order given. The result equals the SD of the pooled sample, so the
    order does not matter beyond rounding. Any missing value makes the
    result NaN (except N). Source: Cochrane Handbook chapter 6, Table 6.5.a;
    F&M 4.2.
    """
    if not (len(ns) == len(means) == len(sds)):
        raise ValueError(
            f"ns, means and sds must have equal length, got {len(ns)}, {len(means)}, {len(sds)}"
        )
    if len(ns) == 0:
        raise ValueError("combine_groups needs at least one group")
    groups = []
    for i, (n_i, m_i, s_i) in enumerate(zip(ns, means, sds)):
        nn = _num(n_i, f"ns[{i}]")
        if math.isnan(nn) or nn <= 0:
            raise ValueError(f"ns[{i}] must be > 0, got {n_i!r}")
        s = _num(s_i, f"sds[{i}]")
        if s < 0:
            raise ValueError(f"sds[{i}] must be >= 0, got {s:g}")
        groups.append((nn, _num(m_i, f"means[{i}]"), s))

    n1, m1, s1 = groups[0]
    for n2, m2, s2 in groups[1:]:
        n = n1 + n2
        mean = (n1 * m1 + n2 * m2) / n
        ss = (
            (n1 - 1.0) * s1 * s1
            + (n2 - 1.0) * s2 * s2
            + n1 * n2 / n * (m1 * m1 + m2 * m2 - 2.0 * m1 * m2)
        )
        sd = math.sqrt(max(ss, 0.0) / (n - 1.0)) if not math.isnan(ss) else _NAN
        n1, m1, s1 = n, mean, sd
    return CombinedGroups(float(n1), float(m1), float(s1))


def combine_events(
    events: Sequence[float], totals: Sequence[float]
) -> tuple[float, float]:
    """Merge dichotomous groups by adding the events and the totals.

    Source: Cochrane Handbook chapter 6, Table 6.5.a note on dichotomous
    outcomes; F&M 4.2.
    Returns ``(events, total)``.
    """
    if len(events) != len(totals):
        raise ValueError(
            f"events and totals must have equal length, got {len(events)}, {len(totals)}"
        )
    if len(events) == 0:
        raise ValueError("combine_events needs at least one group")
    e_sum = 0.0
    t_sum = 0.0
    for i, (e, t) in enumerate(zip(events, totals)):
        ee = _num(e, f"events[{i}]")
        tt = _num(t, f"totals[{i}]")
        if ee < 0 or tt < 0:
            raise ValueError(f"events[{i}] and totals[{i}] must be >= 0")
        if ee > tt:
            raise ValueError(f"values out of order: events[{i}]={ee:g} > totals[{i}]={tt:g}")
        e_sum += ee
        t_sum += tt
    return float(e_sum), float(t_sum)
