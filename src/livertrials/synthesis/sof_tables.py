"""The summary-of-findings outputs of rule synthesize, from the rows of ``summary_of_findings``:

* summary_of_findings.parquet (and .csv for a manuscript): one row per comparison x outcome x window, the
  critical outcomes (config ``grade.critical_outcomes``) first, each with a stable ``sof_id`` whose lineage
  edge leads to its pooled row, so ``livertrials audit <sof_id>`` walks down to the printed numbers;
* evidence_gaps.parquet: per comparison, each critical outcome x window with k = 0 or 1, and what would close it.

Reviewers' overrides (config ``grade.overrides``) replace a domain's rating with their reason; the rule's own
rating is kept beside it (``rule_ratings``). Rules and sources: docs/grade.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from livertrials.io.atomic import write_text
from livertrials.io.tables import field
from livertrials.settings import with_defaults
from livertrials.synthesis.certainty import DOMAIN_LABELS, DOMAINS, UPGRADE, flag_code, items, overrides_for
from livertrials.synthesis.rows import stable_id
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP, Settings
from livertrials.synthesis.summary_of_findings import SOF_SCHEMA, evidence_gaps, lower_first, summary_of_findings
from livertrials.validate.risk_of_bias import overall_judgements

ALL_DOMAINS = (*DOMAINS, UPGRADE)
# Study flags the declared comparisons already account for: "not_cell_therapy" says what the arms received, and a
# study enters a comparison only when its arms are on the comparison's sides (a G-CSF trial is direct evidence for
# G-CSF vs control and never enters cell therapy vs control), so it does not make the evidence indirect.
MATCHED_BY_COMPARISON = frozenset({"not_cell_therapy"})

SOF_TABLE = pa.schema([
    field("sof_id", pa.string(), "stable id of this summary-of-findings row (comparison x outcome x window): "
          "livertrials audit <sof_id> prints its trail"),
    SOF_SCHEMA.field("comparison"),
    field("comparison_label", pa.string(), "the comparison in words (config comparisons)"),
    field("critical", pa.bool_(), "true for an outcome of config grade.critical_outcomes"),
    *[f for f in SOF_SCHEMA if f.name != "comparison"],
    field("rule_ratings", pa.list_(pa.string()), "for each domain a reviewer overrode: the rule's own rating "
          "and reason"),
])

EVIDENCE_GAPS = pa.schema([
    field("comparison", pa.string(), "comparison id"),
    field("comparison_label", pa.string(), "the comparison in words"),
    field("outcome", pa.string(), "registry outcome id (a critical outcome)"),
    field("outcome_label", pa.string(), "outcome name for people"),
    field("window", pa.string(), "analysis window (or longest follow-up)"),
    field("k", pa.int64(), "controlled studies with a between-arm result there (0 or 1)"),
    field("study_ids", pa.list_(pa.string()), "the one study, if k = 1"),
    field("gap", pa.string(), "the gap in words"),
    field("needed", pa.string(), "the printed numbers that would close it"),
])


@dataclass(frozen=True)
class GradeSettings:
    """config["grade"] as typed values (defaults from the config schema only)."""

    critical_outcomes: tuple[str, ...]
    overrides: tuple[dict, ...]

    @classmethod
    def from_config(cls, cfg: dict | None) -> GradeSettings:
        grade = with_defaults({"grade": cfg or {}})["grade"]
        return cls(tuple(grade["critical_outcomes"]), tuple(dict(o) for o in grade["overrides"]))

    def check(self, settings: Settings, outcomes: Mapping) -> None:
        """Every outcome, comparison and window named must exist: a typo would silently rate nothing."""
        windows = [w.label for w in settings.windows] + [LONGEST_FOLLOW_UP]
        comparisons = [c.id for c in settings.comparisons]
        for outcome in self.critical_outcomes:
            if outcome not in outcomes:
                raise ValueError(f"grade.critical_outcomes: {outcome!r} is not an outcome of the registry "
                                 f"(e.g. {', '.join(list(outcomes)[:8])}, ...)")
        for number, entry in enumerate(self.overrides, 1):
            where = f"grade.overrides entry {number}"
            if entry["outcome"] not in outcomes:
                raise ValueError(f"{where}: outcome {entry['outcome']!r} is not an outcome of the registry")
            if entry.get("comparison") is not None and entry["comparison"] not in comparisons:
                raise ValueError(f"{where}: comparison {entry['comparison']!r} is not declared "
                                 f"(comparisons: {', '.join(comparisons) or 'none'})")
            if entry.get("window") is not None and entry["window"] not in windows:
                raise ValueError(f"{where}: window {entry['window']!r} is not an analysis window "
                                 f"({', '.join(windows)})")


def analysis_windows(settings: Settings) -> list[str]:
    """The windows a SoF row or a gap may be in, in time order (longest follow-up last, when analysed)."""
    return [w.label for w in settings.windows] + ([LONGEST_FOLLOW_UP] if settings.longest_follow_up else [])


def intervention_words(settings: Settings) -> dict[str, str]:
    """comparison -> its experimental side in running text ('cell therapy'), for the plain-language statement."""
    return {c.id: lower_first(c.experimental.label or c.label) for c in settings.comparisons}


def study_flags(characteristics: pd.DataFrame) -> dict[str, list[str]]:
    """study -> its study-level flags ('code: detail'), which the indirectness rule reads (without those in
    MATCHED_BY_COMPARISON)."""
    flags: dict[str, list[str]] = {}
    for study, values in zip(characteristics["study_id"], characteristics["study_flags"]):
        flags.setdefault(study, [])
        flags[study] += [f for f in items(values) if f not in flags[study]
                         and flag_code(f) not in MATCHED_BY_COMPARISON]
    return flags


def sof_table(pooled: pd.DataFrame, comparisons: pd.DataFrame, characteristics: pd.DataFrame,
              risk_of_bias: pd.DataFrame | None, settings: Settings, grade: GradeSettings,
              outcomes: Mapping) -> pd.DataFrame:
    """Every SoF row of the run (SOF_TABLE columns): per comparison as declared, the critical outcomes in their
    configured order, then the other outcomes, each in window order."""
    critical = list(grade.critical_outcomes)
    others = [o for o in dict.fromkeys(pooled["outcome"]) if o not in critical] if len(pooled) else []
    common = dict(method=settings.default_method, test=settings.default_test, outcomes=outcomes,
                  risk_of_bias=overall_judgements(risk_of_bias) if risk_of_bias is not None and len(risk_of_bias) else {},
                  study_flags=study_flags(characteristics), interventions=intervention_words(settings),
                  comparison_column="comparison", outcome_ids=critical + others)
    if pooled.empty:
        return pd.DataFrame(columns=SOF_TABLE.names)
    pooled = pooled.assign(unit=pooled["unit"].astype(object).where(pooled["unit"].notna(), None))   # NaN is no unit
    rows = summary_of_findings(pooled, comparisons,
                               overrides=lambda c, o, w: overrides_for(grade.overrides, c, o, w), **common)
    if grade.overrides:   # the rule's own ratings, kept beside the reviewer's
        rules = summary_of_findings(pooled, comparisons, **common)
        rows["rule_ratings"] = [_rule_ratings(row, rule) for row, rule in zip(rows.to_dict("records"),
                                                                               rules.to_dict("records"))]
    else:
        rows["rule_ratings"] = [[] for _ in range(len(rows))]
    labels = {c.id: c.label for c in settings.comparisons}
    rank = {c.id: i for i, c in enumerate(settings.comparisons)}
    outcome_rank = {o: i for i, o in enumerate(critical + others)}
    rows["sof_id"] = [stable_id("sof", c, o, w) for c, o, w in zip(rows["comparison"], rows["outcome"], rows["window"])]
    rows["comparison_label"] = rows["comparison"].map(labels)
    rows["critical"] = rows["outcome"].isin(critical)
    rows = rows.assign(_c=rows["comparison"].map(rank), _o=rows["outcome"].map(outcome_rank))
    rows = rows.sort_values(["_c", "_o"], kind="stable").drop(columns=["_c", "_o"]).reset_index(drop=True)
    return rows[SOF_TABLE.names]


def _rule_ratings(row: dict, rule: dict) -> list[str]:
    return [f"{DOMAIN_LABELS[d]}: the rule rated {_levels(d, rule[f'{d}_change'])} ({rule[f'{d}_reason']}); "
            f"the reviewer {_levels(d, row[f'{d}_change'])}" for d in ALL_DOMAINS if row[f"{d}_overridden"]]


def _levels(domain: str, change: int) -> str:
    if not change:
        return "0"
    return f"+{change}" if domain == UPGRADE else f"-{change}"


def unmatched_overrides(grade: GradeSettings, sof: pd.DataFrame) -> list[dict]:
    """The reviewers' overrides that match no SoF row (reported, as the data may have changed under them)."""
    keys = list(zip(sof["comparison"], sof["outcome"], sof["window"]))
    return [entry for entry in grade.overrides
            if not any(overrides_for([entry], c, o, w) for c, o, w in keys)]


def gaps_table(pooled: pd.DataFrame, settings: Settings, grade: GradeSettings, outcomes: Mapping) -> pd.DataFrame:
    """EVIDENCE_GAPS rows: per declared comparison, each critical outcome x window with k = 0 or 1."""
    if pooled.empty:   # primary_rows needs the pooled columns: with no pool every window of every comparison is a gap
        pooled = pd.DataFrame(columns=["analysis", "design", "method", "test", "k", "measure", "comparison", "outcome",
                                       "window", "study_ids"])
    gaps = evidence_gaps(pooled, comparisons=[c.id for c in settings.comparisons],
                         critical_outcomes=grade.critical_outcomes, windows=analysis_windows(settings),
                         outcomes=outcomes, method=settings.default_method, test=settings.default_test,
                         comparison_column="comparison")
    labels = {c.id: c.label for c in settings.comparisons}
    return pd.DataFrame([dict(g, comparison_label=labels[g["comparison"]]) for g in gaps], columns=EVIDENCE_GAPS.names)


def sof_lineage(sof: pd.DataFrame) -> list[dict]:
    """sof row <- its pooled row (step grade), the transformation saying how certainty and effects were made."""
    edges = []
    for row in sof.to_dict("records"):
        if not row["pooled_id"]:
            continue
        domains = "; ".join(f"{DOMAIN_LABELS[d]} {_levels(d, row[f'{d}_change'])}: {row[f'{d}_reason']}"
                            + (" [reviewer's override]" if row[f"{d}_overridden"] else "") for d in ALL_DOMAINS)
        effect = "; ".join(t for t in (row["relative_effect"], row["absolute_effect"]) if t)
        acr = f" at an assumed control risk of {row['assumed_control_risk']:.0f} per 1,000 ({row['control_risk_basis']})" \
            if pd.notna(row["assumed_control_risk"]) else ""
        edges.append({"output_id": row["sof_id"], "output_table": "synthesis/summary_of_findings",
                      "input_id": row["pooled_id"], "input_kind": "pooled_estimate", "step": "grade",
                      "study_id": None,
                      "transformation": f"summary of findings, {row['comparison_label']} / {row['outcome_label']} / "
                                        f"{row['window']}: {effect}{acr}; certainty {row['certainty']} "
                                        f"(start {row['certainty_start']}; {domains}); {row['plain_language']}"})
    return edges


def write_csv(sof: pd.DataFrame, path) -> None:
    """The SoF table as CSV for a manuscript: every column, list cells joined with '; '."""
    flat = sof.copy()
    for column in ("study_ids", "certainty_footnotes", "rule_ratings"):
        flat[column] = flat[column].map(lambda v: "; ".join(str(x) for x in items(v)))
    write_text(path, flat.to_csv(index=False, lineterminator="\n"))

