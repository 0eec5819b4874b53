"""Summary-of-findings rows (one per comparison x outcome x window), their Arrow schema, and evidence gaps.

A row says, as GRADEpro and Cochrane SoF tables do: studies and participants, the relative effect with its
95% CI, for events the absolute effects per 1,000 at an assumed control risk (ACR: the median control-arm
risk of the pooled studies), for continuous outcomes the mean difference in the outcome's unit, the
certainty (symbols and words) with footnotes, and GRADE's plain-language statement. Rules: docs/grade.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from livertrials.io.tables import field as _field
from livertrials.synthesis.certainty import (
    DOMAINS,
    UPGRADE,
    Certainty,
    appreciable_thresholds,
    assess_certainty,
    flag_code,
    items,
    num,
)
from livertrials.synthesis.measures import RATIO_MEASURES

PER = 1000
# measure used for the SoF row when one outcome x window has several pools of equal k (first wins)
MEASURE_PREFERENCE = ("RR", "OR", "HR", "RD", "MD", "SMD")
ALL_COMPARISONS = "all"
VERBS = {4: "", 3: "probably ", 2: "may "}   # GRADE informative statements (Santesso et al. 2020)


_PER_1000 = "per 1,000 patients"
SOF_SCHEMA = pa.schema([
    _field("comparison", pa.string(), "comparison id (pooled.comparison when the caller names that column, else 'all')"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("window", pa.string(), "analysis window"),
    _field("pooled_id", pa.string(), "pooled.pooled_id of the estimate shown (its audit trail)"),
    _field("measure", pa.string(), "effect measure"),
    _field("unit", pa.string(), "outcome unit of a mean difference"),
    _field("k", pa.int64(), "studies"),
    _field("participants", pa.int64(), "participants in both arms (null if a study's arm sizes are unknown)",
           "patients"),
    _field("study_ids", pa.list_(pa.string()), "studies pooled"),
    _field("relative_effect", pa.string(), "relative effect (95% CI) as text; empty for differences"),
    _field("relative_estimate", pa.float64(), "ratio estimate (RR, OR, HR)"),
    _field("relative_ci_lb", pa.float64(), "lower 95% limit of the ratio"),
    _field("relative_ci_ub", pa.float64(), "upper 95% limit of the ratio"),
    _field("assumed_control_risk", pa.float64(), "ACR: median control-arm risk of the pooled studies", _PER_1000),
    _field("control_risk_basis", pa.string(), "where the ACR comes from, in words"),
    _field("risk_with_intervention", pa.float64(), "risk with the intervention at the ACR", _PER_1000),
    _field("risk_with_intervention_lb", pa.float64(), "lower 95% limit", _PER_1000),
    _field("risk_with_intervention_ub", pa.float64(), "upper 95% limit", _PER_1000),
    _field("risk_difference", pa.float64(), "risk with minus risk without the intervention", _PER_1000),
    _field("risk_difference_lb", pa.float64(), "lower 95% limit", _PER_1000),
    _field("risk_difference_ub", pa.float64(), "upper 95% limit", _PER_1000),
    _field("absolute_effect", pa.string(), "absolute effect (95% CI) as text: per 1,000, or the mean difference"),
    _field("certainty", pa.string(), "high, moderate, low or very low"),
    _field("certainty_symbols", pa.string(), "GRADE symbols"),
    _field("certainty_start", pa.string(), "high (randomized) or low (non-randomized)"),
    _field("certainty_footnotes", pa.list_(pa.string()),
           "reason of every domain that moved the rating or was overridden"),
    _field("plain_language", pa.string(), "GRADE's standard plain-language statement"),
    *[f for d in (*DOMAINS, UPGRADE) for f in (
        _field(f"{d}_change", pa.int64(), f"{d.replace('_', ' ')}: levels {'up' if d == UPGRADE else 'down'}"),
        _field(f"{d}_reason", pa.string(), f"{d.replace('_', ' ')}: the reason"),
        _field(f"{d}_overridden", pa.bool_(), f"{d.replace('_', ' ')}: true if a reviewer's override"))],
])


# ------------------------------------------------------------------------------------------------
# the pool's counts
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolFacts:
    """Counts of the studies in one pool, from their comparisons rows (side 1 intervention, side 2 control)."""

    participants: int | None      # None if any study's arm sizes are unknown
    events: float | None          # events in both arms (event measures), None if any unknown
    control_risks: tuple[float, ...] = ()
    studies_without_counts: tuple[str, ...] = ()

    @property
    def control_risk(self) -> float | None:
        """Assumed control risk: the median control-arm risk of the pooled studies."""
        return statistics.median(self.control_risks) if self.control_risks else None


def pool_facts(rows: Iterable[Mapping]) -> PoolFacts:
    """Participants, events and control-arm risks from the comparisons rows of one pool."""
    participants, events, risks, missing = 0.0, 0.0, [], []
    complete_n = complete_events = True
    for row in rows:
        n1, n2 = num(row.get("n_1")), num(row.get("n_2"))
        if n1 is None or n2 is None:
            complete_n = False
            missing.append(str(row.get("study_id")))
        else:
            participants += n1 + n2
        e1, e2, t2 = num(row.get("events_1")), num(row.get("events_2")), num(row.get("total_2"))
        if e1 is None or e2 is None:
            complete_events = False
        else:
            events += e1 + e2
        if e2 is not None and t2:
            risks.append(e2 / t2)
    return PoolFacts(int(round(participants)) if complete_n else None, events if complete_events else None,
                     tuple(risks), tuple(missing))


def pool_randomized(designs: Iterable) -> bool:
    """True only if every study of the pool is randomized (comparisons.randomized == 'randomized' or True)."""
    values = list(designs)
    return bool(values) and all(v is True or v == "randomized" for v in values)


# ------------------------------------------------------------------------------------------------
# numbers in words
# ------------------------------------------------------------------------------------------------

def number(x: float) -> str:
    """Two decimals below 10, one below 100, none above (a mean difference as a reader takes it in)."""
    size = abs(x)
    return f"{x:.2f}" if size < 10 else f"{x:.1f}" if size < 100 else f"{x:.0f}"


def relative_text(measure: str, estimate: float, lb: float, ub: float) -> str:
    """'RR 0.50 (0.30 to 0.83)' from analysis-scale values; '' for measures that are differences."""
    if measure not in RATIO_MEASURES:
        return ""
    return f"{measure} {math.exp(estimate):.2f} ({math.exp(lb):.2f} to {math.exp(ub):.2f})"


def risk_with_intervention(measure: str, acr: float, effect: float) -> float:
    """Risk with the intervention at control risk ``acr`` (proportion), from an analysis-scale effect:
    RR: acr x RR; OR: via odds, OR acr / (1 - acr + OR acr); RD: acr + RD; HR: 1 - (1 - acr)^HR."""
    if measure == "RR":
        risk = acr * math.exp(effect)
    elif measure == "OR":
        odds_ratio = math.exp(effect)
        risk = odds_ratio * acr / (1 - acr + odds_ratio * acr)
    elif measure == "RD":
        risk = acr + effect
    elif measure == "HR":
        risk = 1 - (1 - acr) ** math.exp(effect)
    else:
        raise ValueError(f"no absolute risk for measure {measure!r}")
    return min(1.0, max(0.0, risk))   # a risk is a proportion (RR and RD can step outside at extreme ACRs)


def absolute_effects(measure: str, acr: float, estimate: float, lb: float, ub: float) -> dict:
    """Risks with the intervention and risk differences per 1,000, with the CI ends (each effect limit maps
    to the same limit: every formula increases with the effect)."""
    risks = [risk_with_intervention(measure, acr, x) for x in (estimate, lb, ub)]
    out = {"assumed_control_risk": acr * PER}
    for suffix, risk in zip(("", "_lb", "_ub"), risks):
        out["risk_with_intervention" + suffix] = risk * PER
        out["risk_difference" + suffix] = (risk - acr) * PER
    return out


def _per_1000(x: float) -> str:
    n = round(x)
    return f"{abs(n)} {'more' if x > 0 else 'fewer'}"


def absolute_text(difference: float, lb: float, ub: float) -> str:
    """'100 fewer per 1,000 (from 140 fewer to 34 fewer)' (GRADEpro's wording)."""
    return f"{_per_1000(difference)} per 1,000 (from {_per_1000(lb)} to {_per_1000(ub)})"


def _direction(x: float, up: str = "higher", down: str = "lower") -> str:
    return f"{number(abs(x))} {up if x > 0 else down}"


def mean_difference_text(measure: str, estimate: float, lb: float, ub: float, unit: str | None) -> str:
    """'MD 2.10 g/L higher (0.50 higher to 3.70 higher)'; SMD without a unit."""
    unit_text = f" {unit}" if unit and measure != "SMD" else ""
    return f"{measure} {number(abs(estimate))}{unit_text} {'higher' if estimate > 0 else 'lower'} " \
           f"({_direction(lb)} to {_direction(ub)})"


def lower_first(label: str) -> str:
    """'Serum albumin' -> 'serum albumin'; 'MELD score' stays."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def little_or_no_difference(measure: str, estimate: float, lb: float, ub: float, mid: float | None = None,
                            control_risk: float | None = None) -> bool:
    """The CI includes no effect and the estimate lies within the thresholds of an appreciable effect
    (certainty.appreciable_thresholds); for a difference with no known threshold, the CI alone decides."""
    if not lb <= 0 <= ub:
        return False
    thresholds = appreciable_thresholds(measure, mid, control_risk)
    return thresholds is None or thresholds[0] < estimate < thresholds[1]


def plain_language(level: int, measure: str, estimate: float, lb: float, ub: float, intervention: str,
                   outcome_label: str, window: str | None = None, mid: float | None = None,
                   control_risk: float | None = None) -> str:
    """GRADE's standard statement: high 'reduces', moderate 'probably reduces', low 'may reduce', very low
    'the evidence is very uncertain about the effect of X on Y'; 'little or no difference' by the rule above."""
    outcome = lower_first(outcome_label) + (f" at {window}" if window else "")
    subject = intervention[:1].upper() + intervention[1:]
    if level <= 1:
        return f"The evidence is very uncertain about the effect of {intervention} on {outcome}."
    verb = VERBS[level]
    third_person = level != 2   # "may" takes the bare verb
    if little_or_no_difference(measure, estimate, lb, ub, mid, control_risk):
        return f"{subject} {verb}{'results' if third_person else 'result'} in little or no difference in {outcome}."
    word = "reduce" if estimate < 0 else "increase"
    return f"{subject} {verb}{word}{'s' if third_person else ''} {outcome}."


# ------------------------------------------------------------------------------------------------
# rows
# ------------------------------------------------------------------------------------------------

def primary_rows(pooled: pd.DataFrame, method: str, test: str, comparison_column: str | None = None) -> pd.DataFrame:
    """The pooled row a SoF table shows per comparison x outcome x window, in the pooled table's order: main
    analysis, between arms, the default method and test (z for k = 1, the only row there), most studies,
    then MEASURE_PREFERENCE."""
    pooled = pooled.reset_index(drop=True)
    rows = pooled[(pooled["analysis"] == "main") & (pooled["design"] == "between_arms") & (pooled["method"] == method)
                  & ((pooled["test"] == test) | (pooled["k"] == 1))].copy()
    rows["comparison"] = rows[comparison_column] if comparison_column else ALL_COMPARISONS
    rank = {m: i for i, m in enumerate(MEASURE_PREFERENCE)}
    keys = pd.DataFrame({"k": -rows["k"].astype(int), "rank": rows["measure"].map(lambda m: rank.get(m, len(rank)))})
    best = keys.sort_values(["k", "rank"], kind="stable").index
    chosen = rows.loc[best].drop_duplicates(["comparison", "outcome", "window"]).index
    return rows[rows.index.isin(chosen)]


def sof_row(pooled: Mapping, certainty: Certainty, facts: PoolFacts, *, intervention: str, comparison: str,
            mid: float | None = None) -> dict:
    """One SoF row (columns of SOF_SCHEMA) from a pooled row, its certainty and the pool's counts."""
    measure, unit = str(pooled["measure"]), pooled.get("unit")
    est, lb, ub = (num(pooled.get(c)) for c in ("estimate", "ci_lb", "ci_ub"))
    study_ids = items(pooled.get("study_ids"))
    row = {"comparison": comparison, "outcome": pooled["outcome"], "outcome_label": pooled["outcome_label"],
           "window": pooled["window"], "pooled_id": pooled.get("pooled_id"), "measure": measure,
           "unit": unit if measure in ("MD", "MC") else None, "k": int(pooled["k"]),
           "participants": facts.participants, "study_ids": study_ids, **certainty.as_row()}
    if est is None or lb is None or ub is None:   # e.g. Mantel-Haenszel with no events: nothing to state
        outcome = lower_first(str(pooled["outcome_label"]))
        return {**row, "relative_effect": "not estimable", "absolute_effect": "not estimable",
                "plain_language": f"The effect of {intervention} on {outcome} could not be estimated "
                                  "(see the pooled row's warnings)."}
    row["relative_effect"] = relative_text(measure, est, lb, ub)
    if measure in RATIO_MEASURES:
        row.update(relative_estimate=math.exp(est), relative_ci_lb=math.exp(lb), relative_ci_ub=math.exp(ub))
    acr = facts.control_risk
    if measure in ("RR", "OR", "RD", "HR") and acr is not None:
        row.update(absolute_effects(measure, acr, est, lb, ub))
        shown = ", ".join(f"{r * PER:.0f}" for r in sorted(facts.control_risks))
        row["control_risk_basis"] = (f"median control-arm risk of the {len(facts.control_risks)} pooled "
                                     f"{'study' if len(facts.control_risks) == 1 else 'studies'} ({shown} per 1,000)")
        row["absolute_effect"] = absolute_text(row["risk_difference"], row["risk_difference_lb"],
                                               row["risk_difference_ub"])
    elif measure in ("RR", "OR", "RD", "HR"):
        row["control_risk_basis"] = "no control-arm counts: no absolute effect"
        row["absolute_effect"] = ""
    else:
        row["absolute_effect"] = mean_difference_text(measure, est, lb, ub, unit)
    row["plain_language"] = plain_language(certainty.level, measure, est, lb, ub, intervention,
                                           str(pooled["outcome_label"]), pooled.get("window"), mid, acr)
    return row


def _study_values(rows: list[dict], column: str) -> dict[str, object]:
    return {r["study_id"]: r.get(column) for r in rows}


# the comparison columns a summary-of-findings row is made from (pool_facts, certainty, flags): converting only
# these to dicts, not all fifty, saves seconds at 1,000 studies
COMPARISON_COLUMNS_READ = ("comparison_id", "study_id", "n_1", "n_2", "events_1", "events_2", "total_2", "flags",
                           "randomized", "yi", "vi")


def summary_of_findings(pooled: pd.DataFrame, comparisons: pd.DataFrame, *, method: str, test: str,
                        outcomes: Mapping | None = None, risk_of_bias: Mapping[str, str] | None = None,
                        study_flags: Mapping[str, Iterable[str]] | None = None,
                        overrides: Callable[[str, str, str], Mapping] | None = None,
                        interventions: Mapping[str, str] | None = None, comparison_column: str | None = None,
                        default_intervention: str = "the intervention",
                        outcome_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every SoF row of a run, from pooled.parquet and comparisons.parquet.

    outcomes: registry outcome id -> Outcome (its optional ``mid`` is read); risk_of_bias: study -> overall
    judgement; study_flags: study -> flags (study.yaml codes), joined with the rows' own flags;
    overrides(comparison, outcome, window) -> {domain: {rating, reason}} (certainty.overrides_for);
    interventions: comparison -> words for the intervention in the plain-language statement.
    outcome_ids: the outcomes a SoF table shows, in this order (all, in the pooled table's order, if None).
    """
    rows = primary_rows(pooled, method, test, comparison_column)
    if outcome_ids is not None:
        order = {o: i for i, o in enumerate(outcome_ids)}
        rows = rows[rows["outcome"].isin(list(order))]
        rows = rows.iloc[sorted(range(len(rows)), key=lambda i: order[rows["outcome"].iloc[i]])]
    # only the comparisons these rows pooled: a dict of every comparison row cost seconds on large corpora
    needed = {c for ids in rows["comparison_ids"] for c in items(ids)}
    wanted = comparisons.loc[comparisons["comparison_id"].isin(needed),
                             [c for c in COMPARISON_COLUMNS_READ if c in comparisons.columns]]
    by_id = {r["comparison_id"]: r for r in wanted.to_dict("records")}
    out = []
    for pooled_row in rows.to_dict("records"):
        used = [by_id[c] for c in items(pooled_row["comparison_ids"]) if c in by_id]
        facts = pool_facts(used)
        flags = {s: {flag_code(f) for f in items((study_flags or {}).get(s))} for s in items(pooled_row["study_ids"])}
        for r in used:
            flags.setdefault(r["study_id"], set()).update(flag_code(f) for f in items(r.get("flags")))
        outcome = (outcomes or {}).get(pooled_row["outcome"])
        mid = getattr(outcome, "mid", None)
        comparison = pooled_row["comparison"]
        certainty = assess_certainty(
            pooled_row, randomized=pool_randomized(_study_values(used, "randomized").values()),
            risk_of_bias=risk_of_bias, flags=flags, mid=mid, participants=facts.participants,
            control_risk=facts.control_risk,
            study_effects={r["study_id"]: (r["yi"], r["vi"]) for r in used},
            overrides=overrides(comparison, pooled_row["outcome"], pooled_row["window"]) if overrides else None)
        out.append(sof_row(pooled_row, certainty, facts, comparison=comparison, mid=mid,
                           intervention=(interventions or {}).get(comparison, default_intervention)))
    return pd.DataFrame(out, columns=SOF_SCHEMA.names)


# ------------------------------------------------------------------------------------------------
# evidence gaps
# ------------------------------------------------------------------------------------------------

def _needed(kind: str, label: str, window: str, more: int) -> str:
    studies = f"at least {more} more controlled {'study' if more == 1 else 'studies'}"
    if kind == "events":
        return f"the number of patients with {label} and the number analysed in each arm at {window}, from {studies}"
    if kind == "continuous":
        return (f"the mean and SD (or median with IQR or range) of {label} at {window} in each arm, or the "
                f"between-group difference with its 95% CI, from {studies}")
    return f"the between-group effect on {label} at {window} with its 95% CI, from {studies}"


def evidence_gaps(pooled: pd.DataFrame, *, comparisons: Iterable[str], critical_outcomes: Iterable[str],
                  windows: Iterable[str], outcomes: Mapping | None = None, method: str, test: str,
                  comparison_column: str | None = None) -> list[dict]:
    """Per comparison, each critical outcome x window with k = 0 or 1, what is missing and which printed
    numbers would close the gap (2 controlled studies make a pool)."""
    rows = primary_rows(pooled, method, test, comparison_column)
    best = {(r["comparison"], r["outcome"], r["window"]): r for r in rows.to_dict("records")}
    gaps = []
    for comparison in comparisons:
        for outcome_id in critical_outcomes:
            outcome = (outcomes or {}).get(outcome_id)
            label = getattr(outcome, "label", outcome_id)
            kind = getattr(outcome, "kind", "")   # unknown to the caller: the generic wording
            elsewhere = [w for w in windows if (comparison, outcome_id, w) in best]
            for window in windows:
                found = best.get((comparison, outcome_id, window))
                k = int(found["k"]) if found else 0
                if k >= 2:
                    continue
                if k == 0:
                    gap = f"{label} at {window}: no controlled study reports it"
                    others = [w for w in elsewhere if w != window]
                    if others:
                        gap += f" (reported at {', '.join(others)})"
                else:
                    gap = f"{label} at {window}: one controlled study only ({items(found['study_ids'])[0]}), nothing to pool"
                gaps.append({"comparison": comparison, "outcome": outcome_id, "outcome_label": label,
                             "window": window, "k": k, "study_ids": items(found["study_ids"]) if found else [],
                             "gap": gap, "needed": _needed(kind, lower_first(label), window, 2 - k)})
    return gaps
