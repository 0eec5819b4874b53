"""GRADE certainty of the evidence for one pooled result (comparison x outcome x window), by stated rules.

Every domain is one small function that returns a Rating (levels down, and the reason in words); a
reviewer may override any domain with a reason, and the override is kept beside the rule's own rating.
The rules and their sources (GRADE handbook, GRADE guidelines series, Cochrane Handbook) are in
docs/grade.md; the thresholds are the module constants below.

Scale: a pooled row's estimate, ci_* and pi_* are on the analysis scale of pooled.parquet (log for RR,
OR and HR), so "no effect" is 0 for every measure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from livertrials import distributions
from livertrials.synthesis.measures import RATIO_MEASURES
from livertrials.synthesis.meta_bias import regtest

DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_LABELS = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency", "indirectness": "Indirectness",
                 "imprecision": "Imprecision", "publication_bias": "Publication bias", "large_effect": "Large effect"}
UPGRADE = "large_effect"
CERTAINTY = {4: "high", 3: "moderate", 2: "low", 1: "very low"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}
RATING_WORDS = {0: "not serious", 1: "serious", 2: "very serious"}

# Risk of bias: each tool's overall judgement as one of four categories (docs/grade.md)
RISK_CATEGORY = {"low": "low", "some_concerns": "some_concerns", "moderate": "some_concerns", "high": "high",
                 "serious": "high", "critical": "high", "no_information": "not_assessed",
                 "not_assessed": "not_assessed"}
ROB_MAJORITY = 0.5          # "most of the information" = more than half of the pooled weight
# Inconsistency
I2_SERIOUS = 50.0
I2_VERY_SERIOUS = 75.0
# Imprecision: GRADE's thresholds of appreciable benefit or harm (GRADE guidelines 6) and the OIS
APPRECIABLE_RATIO = (0.75, 1.25)
APPRECIABLE_SMD = 0.2       # Cohen's "small" effect
APPRECIABLE_RRR = 0.25      # also the relative risk reduction the OIS is powered for; RD thresholds = 25% of ACR
OIS_ALPHA, OIS_BETA = 0.05, 0.20
# Publication bias
PUBLICATION_BIAS_MIN_K = 10
EGGER_P = 0.10
# Indirectness: flags (study-level codes or row flags) that make a study indirect evidence
INDIRECTNESS_FLAGS = {
    "secondary_source": "numbers from a secondary source",
    "population_mismatch": "population differs from the question",
    "intervention_mismatch": "intervention differs from the question",
    "comparator_mismatch": "comparator differs from the question",
    "outcome_mismatch": "outcome measured differently from the question",
    "not_cell_therapy": "no cells infused",
}
INDIRECT_MAJORITY = 0.5
# Upgrading (non-randomized only)
LARGE_EFFECT = (0.5, 2.0)


@dataclass(frozen=True)
class Rating:
    """One domain: levels down (up for large_effect), why, and the rule's own rating if a reviewer overrode it."""

    domain: str
    change: int
    reason: str
    assessable: bool = True
    overridden: bool = False
    rule_change: int | None = None
    rule_reason: str = ""


@dataclass(frozen=True)
class Certainty:
    start: str                    # "high" (randomized) or "low"
    ratings: tuple[Rating, ...]   # the five domains, in DOMAINS order
    upgrade: Rating
    level: int                    # 1..4

    @property
    def certainty(self) -> str:
        return CERTAINTY[self.level]

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    def rating(self, domain: str) -> Rating:
        return self.upgrade if domain == UPGRADE else next(r for r in self.ratings if r.domain == domain)

    def footnotes(self) -> list[str]:
        """One sentence per domain that moved the rating or was overridden, in DOMAINS order."""
        notes = []
        for r in (*self.ratings, self.upgrade):
            if r.change or r.overridden:
                sign = "+" if r.domain == UPGRADE else "-"
                head = f"{DOMAIN_LABELS[r.domain]} ({sign}{r.change})" if r.change else DOMAIN_LABELS[r.domain]
                notes.append(f"{head}: {r.reason}" + (" [reviewer's override]" if r.overridden else ""))
        return notes

    def as_row(self) -> dict:
        """Flat columns for summary_of_findings.parquet (see SOF_SCHEMA there)."""
        row = {"certainty": self.certainty, "certainty_symbols": self.symbols, "certainty_start": self.start,
               "certainty_footnotes": self.footnotes()}
        for r in (*self.ratings, self.upgrade):
            row.update({f"{r.domain}_change": r.change, f"{r.domain}_reason": r.reason,
                        f"{r.domain}_overridden": r.overridden})
        return row


# ------------------------------------------------------------------------------------------------
# inputs: weights, facts of the pool
# ------------------------------------------------------------------------------------------------

def num(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def items(value) -> list:
    """A list cell as a list: Parquet gives numpy arrays (whose truth value is an error), null gives []."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)


def percent(x: float) -> str:
    return f"{100 * x:.0f}%"


def weight_shares(study_ids: Iterable[str], weights: Iterable[float] | None = None) -> dict[str, float]:
    """study -> share of the pool's weight (0..1); equal shares without weights (k = 1: the one study)."""
    ids = list(study_ids)
    values = [num(w) for w in weights] if weights is not None else []
    if len(values) != len(ids) or any(v is None or v < 0 for v in values) or not sum(values):
        return {s: 1 / len(ids) for s in ids} if ids else {}
    total = sum(values)
    return {s: v / total for s, v in zip(ids, values)}


def flag_code(flag: str) -> str:
    """'secondary_source: detail' -> 'secondary_source' (study flags carry a detail, row flags do not)."""
    return str(flag).split(":")[0].strip()


# ------------------------------------------------------------------------------------------------
# the five domains
# ------------------------------------------------------------------------------------------------

def rate_risk_of_bias(shares: Mapping[str, float], judgements: Mapping[str, str]) -> Rating:
    """-2 if studies at high risk carry > 50% of the weight; -1 if high plus not assessed carry > 50%."""
    by = {"low": [], "some_concerns": [], "high": [], "not_assessed": []}
    for study in shares:
        by[RISK_CATEGORY.get(judgements.get(study, "not_assessed"), "not_assessed")].append(study)
    share = {c: sum(shares[s] for s in studies) for c, studies in by.items()}
    parts = ", ".join(f"{c.replace('_', ' ')} {percent(share[c])}" + (f" ({', '.join(by[c])})" if by[c] else "")
                      for c in by if by[c])
    facts = f"share of the pooled weight by overall risk of bias: {parts}"
    if share["high"] > ROB_MAJORITY:
        return Rating("risk_of_bias", 2, f"most of the weight ({percent(share['high'])}) is from studies at high "
                      f"risk of bias; {facts}")
    if share["high"] + share["not_assessed"] > ROB_MAJORITY:
        return Rating("risk_of_bias", 1, f"most of the weight ({percent(share['high'] + share['not_assessed'])}) "
                      f"is from studies at high risk of bias or not assessed; {facts}")
    return Rating("risk_of_bias", 0, f"most of the weight is from studies at low risk or with some concerns; {facts}")


def _overlap_gap(study_cis: Mapping[str, tuple[float, float]]) -> tuple[str, str] | None:
    """Two studies whose confidence intervals do not overlap (the lowest upper and the highest lower limit)."""
    cis = {s: (lb, ub) for s, (lb, ub) in study_cis.items() if num(lb) is not None and num(ub) is not None}
    if len(cis) < 2:
        return None
    low = min(cis, key=lambda s: cis[s][1])
    high = max(cis, key=lambda s: cis[s][0])
    return (low, high) if cis[low][1] < cis[high][0] else None


def rate_inconsistency(pooled: Mapping, study_cis: Mapping[str, tuple[float, float]] | None = None) -> Rating:
    """-2: I2 >= 75% and two study CIs do not overlap; -1: I2 >= 50%, or the prediction interval includes
    no effect while the CI excludes it (with I2 > 0); not applicable for one study."""
    k = int(num(pooled.get("k")) or 0)
    if k < 2:
        return Rating("inconsistency", 0, "not applicable: one study", assessable=False)
    i2 = num(pooled.get("I2")) or 0.0
    lb, ub = num(pooled.get("ci_lb")), num(pooled.get("ci_ub"))
    pi_lb, pi_ub = num(pooled.get("pi_lb")), num(pooled.get("pi_ub"))
    measure = str(pooled.get("measure"))
    facts = f"I² = {i2:.0f}%"
    if pi_lb is not None and pi_ub is not None:
        facts += f", 95% prediction interval {range_text(measure, pi_lb, pi_ub)}"
    if i2 >= I2_VERY_SERIOUS:
        if study_cis is None:
            return Rating("inconsistency", 1, f"considerable heterogeneity ({facts}); the study CIs were not given, "
                          "so their overlap was not checked")
        gap = _overlap_gap(study_cis)
        if gap:
            return Rating("inconsistency", 2, f"considerable heterogeneity ({facts}) and the confidence intervals of "
                          f"{gap[0]} and {gap[1]} do not overlap")
        return Rating("inconsistency", 1, f"considerable heterogeneity ({facts}); the study CIs overlap")
    if i2 >= I2_SERIOUS:
        return Rating("inconsistency", 1, f"substantial heterogeneity ({facts})")
    ci_excludes = lb is not None and ub is not None and (lb > 0 or ub < 0)
    if i2 > 0 and ci_excludes and pi_lb is not None and pi_ub is not None and pi_lb <= 0 <= pi_ub:
        return Rating("inconsistency", 1, f"the prediction interval includes no effect while the CI does not: "
                      f"the effect in a new setting may differ in direction ({facts})")
    return Rating("inconsistency", 0, f"no important heterogeneity ({facts})")


def rate_indirectness(shares: Mapping[str, float], flags: Mapping[str, Iterable[str]]) -> Rating:
    """-1 if studies with an indirectness flag carry more than half of the weight."""
    flagged = {s: sorted({flag_code(f) for f in flags.get(s, ())} & set(INDIRECTNESS_FLAGS)) for s in shares}
    flagged = {s: codes for s, codes in flagged.items() if codes}
    if not flagged:
        return Rating("indirectness", 0, "no study carries an indirectness flag")
    share = sum(shares[s] for s in flagged)
    listed = "; ".join(f"{s}: {', '.join(INDIRECTNESS_FLAGS[c] for c in codes)}" for s, codes in flagged.items())
    if share > INDIRECT_MAJORITY:
        return Rating("indirectness", 1, f"{percent(share)} of the weight is from indirect evidence ({listed})")
    return Rating("indirectness", 0, f"indirect evidence carries {percent(share)} of the weight only ({listed})")


def optimal_information_size(control_risk: float, rrr: float = APPRECIABLE_RRR, alpha: float = OIS_ALPHA,
                             beta: float = OIS_BETA) -> int:
    """Participants (both arms) a single trial needs to detect a relative risk reduction ``rrr`` from
    ``control_risk``: 2 x (z_{1-alpha/2} + z_{1-beta})^2 (pc(1-pc) + pe(1-pe)) / (pc - pe)^2, pe = pc(1-rrr)."""
    if not 0 < control_risk < 1:
        raise ValueError(f"control risk must lie strictly between 0 and 1, got {control_risk}")
    pe = control_risk * (1 - rrr)
    z = distributions.norm_isf(alpha / 2) + distributions.norm_isf(beta)
    per_arm = z ** 2 * (control_risk * (1 - control_risk) + pe * (1 - pe)) / (control_risk - pe) ** 2
    return 2 * math.ceil(per_arm)


def appreciable_thresholds(measure: str, mid: float | None = None,
                           control_risk: float | None = None) -> tuple[float, float] | None:
    """(lower, upper) effect on the analysis scale beyond which an effect is appreciable, or None if unknown."""
    if measure in RATIO_MEASURES:
        return math.log(APPRECIABLE_RATIO[0]), math.log(APPRECIABLE_RATIO[1])
    if measure == "SMD":
        return -APPRECIABLE_SMD, APPRECIABLE_SMD
    if measure == "RD":
        return (-APPRECIABLE_RRR * control_risk, APPRECIABLE_RRR * control_risk) if control_risk else None
    return (-abs(mid), abs(mid)) if mid else None


def rate_imprecision(pooled: Mapping, mid: float | None = None, participants: int | None = None,
                     control_risk: float | None = None) -> Rating:
    """-2: one study, or the CI includes both an appreciable decrease and an appreciable increase, or the CI
    includes no effect with fewer participants than the OIS; -1: the CI includes no effect, or crosses the
    minimal important difference (MD and MC with a registry mid), or fewer participants than the OIS (event
    measures with a known control risk)."""
    measure = str(pooled.get("measure"))
    k = int(num(pooled.get("k")) or 0)
    lb, ub = num(pooled.get("ci_lb")), num(pooled.get("ci_ub"))
    if lb is None or ub is None:
        return Rating("imprecision", 2, "no confidence interval could be computed")
    ci = f"95% CI {range_text(measure, lb, ub)}"
    reasons, level = [], 0
    if k == 1:
        reasons.append("a single study")
        level = 2
    includes_null = lb <= 0 <= ub
    wide = appreciable_thresholds(measure, mid, control_risk)
    if wide and lb < wide[0] and ub > wide[1]:
        reasons.append(f"the {ci} includes both an appreciable decrease and an appreciable increase "
                       f"(beyond {_threshold_text(measure, wide)})")
        level = 2
    elif includes_null:
        reasons.append(f"the {ci} includes no effect")
        level = max(level, 1)
    if measure in ("MD", "MC") and mid and not (lb < -abs(mid) and ub > abs(mid)) \
            and any(lb < t < ub for t in (-abs(mid), abs(mid))):
        reasons.append(f"the {ci} crosses the minimal important difference ({mid:g})")
        level = max(level, 1)
    ois = None
    if measure in ("RR", "OR", "RD", "HR") and control_risk and 0 < control_risk < 1 and participants is not None:
        ois = optimal_information_size(control_risk)
        if participants < ois:
            reasons.append(f"{participants} participants, fewer than the optimal information size of {ois} "
                           f"(control risk {control_risk:.2f}, relative risk reduction {APPRECIABLE_RRR:.0%}, "
                           f"alpha {OIS_ALPHA}, power {1 - OIS_BETA:.0%})")
            level = max(level, 2 if includes_null else 1)
    if not reasons:
        size = f"; {participants} participants meet the optimal information size of {ois}" if ois else ""
        return Rating("imprecision", 0, f"the {ci} excludes no effect{size}")
    return Rating("imprecision", level, "; ".join(reasons))


def _threshold_text(measure: str, thresholds: tuple[float, float]) -> str:
    return f"{effect_text(measure, thresholds[0])} and {effect_value(measure, thresholds[1]):.2f}"


def rate_publication_bias(yi: Iterable[float] | None, vi: Iterable[float] | None, k: int) -> Rating:
    """Not assessable below 10 studies; from 10 on, -1 if the regression test (metafor regtest defaults:
    mixed-effects model on the standard error) gives p < 0.10."""
    if k < PUBLICATION_BIAS_MIN_K:
        return Rating("publication_bias", 0, f"not assessable: {k} {'study' if k == 1 else 'studies'}, fewer than "
                      f"{PUBLICATION_BIAS_MIN_K} (tests for funnel-plot asymmetry have too little power)",
                      assessable=False)
    if yi is None or vi is None:
        return Rating("publication_bias", 0, "not assessable: the study effects were not given", assessable=False)
    try:
        test = regtest(list(yi), list(vi))
    except ValueError as error:
        return Rating("publication_bias", 0, f"not assessable: the regression test failed ({error})", assessable=False)
    facts = f"regression test for funnel-plot asymmetry p = {test.pval:.3f} (k = {test.k})"
    if test.pval < EGGER_P:
        return Rating("publication_bias", 1, f"small-study effects suspected: {facts}")
    return Rating("publication_bias", 0, f"no small-study effects detected: {facts}")


def rate_large_effect(randomized: bool, measure: str, estimate: float | None, downgrades: int) -> Rating:
    """+1 for non-randomized evidence with a ratio below 0.5 or above 2 and no downgrade in any domain."""
    if randomized:
        return Rating(UPGRADE, 0, "not applicable: randomized evidence is not upgraded", assessable=False)
    if measure not in RATIO_MEASURES or estimate is None:
        why = "no estimate" if estimate is None else "the measure is not a ratio"
        return Rating(UPGRADE, 0, f"not applicable: {why}", assessable=False)
    ratio = math.exp(estimate)
    large = ratio < LARGE_EFFECT[0] or ratio > LARGE_EFFECT[1]
    if large and downgrades == 0:
        return Rating(UPGRADE, 1, f"large effect ({measure} {ratio:.2f}) with no reason to rate down")
    why = "no large effect" if not large else "large effect, but the evidence was rated down"
    return Rating(UPGRADE, 0, f"{why} ({measure} {ratio:.2f})")


# ------------------------------------------------------------------------------------------------
# overrides and the whole assessment
# ------------------------------------------------------------------------------------------------

OVERRIDE_WORDS = {"not serious": 0, "no": 0, "none": 0, "serious": 1, "very serious": 2, "very_serious": 2,
                  "not_serious": 0}


def override_change(value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"override rating must be 0, 1, 2 or not serious/serious/very serious, got {value!r}")
    if isinstance(value, int) and value in (0, 1, 2):
        return value
    if isinstance(value, str) and value.strip().lower() in OVERRIDE_WORDS:
        return OVERRIDE_WORDS[value.strip().lower()]
    raise ValueError(f"override rating must be 0, 1, 2 or not serious/serious/very serious, got {value!r}")


def apply_override(rating: Rating, override: Mapping | None) -> Rating:
    """The reviewer's rating and reason, keeping the rule's own rating beside it."""
    if not override:
        return rating
    reason = str(override.get("reason") or "").strip()
    if not reason:
        raise ValueError(f"an override of {rating.domain} needs a reason")
    return replace(rating, change=override_change(override.get("rating")), reason=reason, overridden=True,
                   rule_change=rating.change, rule_reason=rating.reason)


def overrides_for(entries: Iterable[Mapping], comparison: str | None, outcome: str, window: str | None) -> dict:
    """{domain: {rating, reason}} of the config entries that match; an entry without comparison or window
    matches every comparison or window. Unknown domains are an error."""
    found = {}
    for entry in entries:
        domain = entry.get("domain")
        if domain not in (*DOMAINS, UPGRADE):
            allowed = ", ".join((*DOMAINS, UPGRADE))
            raise ValueError(f"unknown GRADE domain {domain!r} in an override (allowed: {allowed})")
        if entry.get("outcome") != outcome:
            continue
        if entry.get("comparison") not in (None, comparison) or entry.get("window") not in (None, window):
            continue
        found[domain] = {"rating": entry.get("rating"), "reason": entry.get("reason")}
    return found


def assess_certainty(pooled: Mapping, *, randomized: bool, risk_of_bias: Mapping[str, str] | None = None,
                     flags: Mapping[str, Iterable[str]] | None = None, mid: float | None = None,
                     participants: int | None = None, control_risk: float | None = None,
                     study_effects: Mapping[str, tuple[float, float]] | None = None,
                     overrides: Mapping[str, Mapping] | None = None) -> Certainty:
    """GRADE certainty of one pooled row.

    pooled: estimate, ci_lb, ci_ub, pi_lb, pi_ub (analysis scale), k, I2, measure, study_ids, weights (percent).
    risk_of_bias: study -> overall judgement (either tool's levels; missing = not assessed).
    flags: study -> flag codes. mid: minimal important difference (MD/MC, outcome unit).
    study_effects: study -> (yi, vi) on the analysis scale (inconsistency overlap, publication bias).
    overrides: domain -> {rating, reason}.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - {*DOMAINS, UPGRADE}
    if unknown:
        raise ValueError(f"unknown GRADE domain(s) in overrides: {', '.join(sorted(unknown))}")
    study_ids = items(pooled.get("study_ids"))
    shares = weight_shares(study_ids, pooled.get("weights"))
    k = int(num(pooled.get("k")) or len(study_ids))
    effects = [study_effects[s] for s in study_ids if s in study_effects] if study_effects else []
    complete = study_effects is not None and len(effects) == len(study_ids)
    z = distributions.norm_isf(0.025)
    cis = {s: (y - z * math.sqrt(v), y + z * math.sqrt(v)) for s, (y, v) in study_effects.items()
           if s in shares} if complete else None
    rules = {
        "risk_of_bias": rate_risk_of_bias(shares, risk_of_bias or {}),
        "inconsistency": rate_inconsistency(pooled, cis),
        "indirectness": rate_indirectness(shares, flags or {}),
        "imprecision": rate_imprecision(pooled, mid, participants, control_risk),
        "publication_bias": rate_publication_bias([e[0] for e in effects] if complete else None,
                                                  [e[1] for e in effects] if complete else None, k),
    }
    ratings = tuple(apply_override(rules[d], overrides.get(d)) for d in DOMAINS)
    down = sum(r.change for r in ratings)
    upgrade = apply_override(rate_large_effect(randomized, str(pooled.get("measure")), num(pooled.get("estimate")),
                                               down), overrides.get(UPGRADE))
    start = 4 if randomized else 2
    level = min(4, max(1, start - down + upgrade.change))
    return Certainty("high" if randomized else "low", ratings, upgrade, level)


# ------------------------------------------------------------------------------------------------
# numbers in words
# ------------------------------------------------------------------------------------------------

def effect_value(measure: str, x: float) -> float:
    """An analysis-scale value on the scale people read (exp for RR, OR, HR)."""
    return math.exp(x) if measure in RATIO_MEASURES else x


def effect_text(measure: str, x: float, digits: int = 2) -> str:
    """'RR 0.75', 'MD -1.20': a value of the measure on the scale people read."""
    return f"{measure} {effect_value(measure, x):.{digits}f}"


def range_text(measure: str, low: float, high: float, digits: int = 2) -> str:
    """'RR 0.40 to 0.90'."""
    return f"{effect_text(measure, low, digits)} to {effect_value(measure, high):.{digits}f}"
