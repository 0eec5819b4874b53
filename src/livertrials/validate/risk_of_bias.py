"""Risk of bias of one study: the tools' vocabularies, the checks of ``study.yaml: risk_of_bias``, and the table.

The JSON-schema fragment ``schemas/risk_of_bias.schema.yaml`` checks the shape (types, required keys,
no unknown keys); this module checks the meaning, which depends on the tool: known tool, domains and
levels of that tool, a support quote and its source for every judgement, each domain once, the tool
suited to the design (warning), and an overall judgement no milder than the worst domain (warning).
A study without ``risk_of_bias`` is "not assessed": never guessed, and shown as such downstream.
Documented in docs/risk-of-bias.md.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml
from referencing import Registry, Resource

from livertrials.validate.issues import Issue

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "risk_of_bias.schema.yaml"

TOOLS = {"rob2": "RoB 2", "robins_i": "ROBINS-I"}
# domain id -> label, in the tool's order (Sterne et al. 2019, BMJ 366:l4898; Sterne et al. 2016, BMJ 355:i4919)
DOMAINS = {
    "rob2": {
        "randomization": "Randomization process",
        "deviations": "Deviations from intended interventions",
        "missing_data": "Missing outcome data",
        "measurement": "Measurement of the outcome",
        "selection_of_reported_result": "Selection of the reported result",
    },
    "robins_i": {
        "confounding": "Confounding",
        "selection": "Selection of participants",
        "classification": "Classification of interventions",
        "deviations": "Deviations from intended interventions",
        "missing_data": "Missing data",
        "measurement": "Measurement of outcomes",
        "selection_of_reported_result": "Selection of the reported result",
    },
}
# judgement levels, mildest first; no_information stands outside ROBINS-I's order
LEVELS = {
    "rob2": ("low", "some_concerns", "high"),
    "robins_i": ("low", "moderate", "serious", "critical", "no_information"),
}
NO_INFORMATION = "no_information"
NOT_ASSESSED = "not_assessed"
OVERALL = "overall"
LEVEL_LABELS = {"low": "Low", "some_concerns": "Some concerns", "high": "High", "moderate": "Moderate",
                "serious": "Serious", "critical": "Critical", "no_information": "No information",
                NOT_ASSESSED: "Not assessed"}
RULE = "risk of bias"


@lru_cache(maxsize=1)
def risk_of_bias_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_registry() -> Registry:
    """A ``referencing`` registry holding the fragment under its $id, so study.schema.yaml can say
    ``risk_of_bias: {$ref: "risk_of_bias.schema.yaml"}`` (pass it as ``registry=`` to the validator)."""
    fragment = risk_of_bias_schema()
    return Registry().with_resource(fragment["$id"], Resource.from_contents(fragment))


def expected_tool(randomized) -> str:
    """The tool a study's design calls for: RoB 2 for randomized: true, ROBINS-I otherwise."""
    return "rob2" if randomized is True else "robins_i"


def severity(tool: str, level: str) -> int | None:
    """Rank of a level within its tool (0 = low); None for no_information, not assessed or unknown levels."""
    order = [lv for lv in LEVELS.get(tool, ()) if lv != NO_INFORMATION]
    return order.index(level) if level in order else None


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _hint(value: str, allowed, other: dict[str, str]) -> str:
    """' (did you mean ...?)' or where the value belongs instead."""
    if value in other:
        return f"; {value!r} belongs to {other[value]}"
    close = difflib.get_close_matches(value, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    def __init__(self, study: str, file: str):
        self.study, self.file, self.issues = study, file, []

    def add(self, column: str, value, message: str, severity: str = "error") -> None:
        shown = "" if isinstance(value, (dict, list)) or value is None else str(value)
        self.issues.append(Issue(self.study, self.file, None, "", column, shown, RULE, message, severity))

    def judgement(self, tool: str, entry: dict, column: str, what: str) -> str | None:
        """Check one judgement with its support and source; return the level if it is one of the tool's."""
        level = entry.get("judgement")
        if not isinstance(level, str):
            return None   # missing or not text: reported by the schema
        allowed = LEVELS[tool]
        if level not in allowed:
            other = {lv: f"{TOOLS[t]}, not {TOOLS[tool]}" for t, lvs in LEVELS.items() if t != tool for lv in lvs}
            self.add(f"{column}.judgement", level,
                     f"{level!r} is not a {TOOLS[tool]} judgement for {what} (allowed: {', '.join(allowed)})"
                     + _hint(level, allowed, other))
            return None
        support, source = _text(entry.get("support")), _text(entry.get("source"))
        if not support and level != NO_INFORMATION:
            self.add(f"{column}.support", "",
                     f"the judgement {level!r} for {what} has no support quote: copy the sentence(s) of the source "
                     f"that justify it into 'support' (verbatim), and say where they are printed in 'source'")
        elif support and not source:
            self.add(f"{column}.source", "",
                     f"the support quote for {what} has no source: say where it is printed (document, page, section)")
        return level


def validate_risk_of_bias(meta: dict, study: str, file: str) -> list[Issue]:
    """Errors and warnings of ``meta['risk_of_bias']``; [] when the study has none (it is "not assessed").

    Shape problems (wrong types, missing required keys, unknown keys) are the schema's to report: here
    they are skipped so that no problem is reported twice.
    """
    assessment = meta.get("risk_of_bias")
    check = _Checker(study, file)
    if not isinstance(assessment, dict):
        return []
    tool = assessment.get("tool")
    if not isinstance(tool, str):
        return []
    if tool not in TOOLS:
        close = difflib.get_close_matches(tool.casefold().replace("-", "_").replace(" ", ""), list(TOOLS), n=1)
        check.add("risk_of_bias.tool", tool, f"unknown risk-of-bias tool {tool!r} (allowed: rob2 for randomized "
                  f"trials, robins_i for non-randomized studies)" + (f"; did you mean {close[0]!r}?" if close else ""))
        return check.issues
    domains = DOMAINS[tool]
    found: dict[str, str | None] = {}
    entries = assessment.get("domains")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("domain"), str):
            continue
        column, domain = f"risk_of_bias.domains.{index}", entry["domain"]
        if domain == OVERALL:
            check.add(f"{column}.domain", domain, "the overall judgement goes under risk_of_bias.overall, "
                      "not in the list of domains")
            continue
        if domain not in domains:
            other = {d: f"{TOOLS[t]}, not {TOOLS[tool]}" for t, ds in DOMAINS.items() if t != tool for d in ds}
            check.add(f"{column}.domain", domain, f"unknown {TOOLS[tool]} domain {domain!r} (allowed: "
                      f"{', '.join(domains)})" + _hint(domain, domains, other))
            check.judgement(tool, entry, column, f"domain {domain!r}")   # every problem at once
            continue
        if domain in found:
            check.add(f"{column}.domain", domain, f"domain {domain!r} is judged twice; keep one entry per domain")
            continue
        found[domain] = check.judgement(tool, entry, column, f"domain {domain!r}")
    overall = assessment.get("overall")
    overall_level = check.judgement(tool, overall, "risk_of_bias.overall", "the overall judgement") \
        if isinstance(overall, dict) else None
    _design_warnings(check, tool, meta.get("randomized"))
    _overall_warnings(check, tool, found, overall_level)
    return check.issues


def _design_warnings(check: _Checker, tool: str, randomized) -> None:
    if tool == "rob2" and randomized is not True:
        stated = "false" if randomized is False else "not stated (null)"
        check.add("risk_of_bias.tool", tool, f"RoB 2 is for randomized trials but 'randomized' is {stated} in "
                  "study.yaml; use robins_i for a non-randomized study, or correct 'randomized'", "warning")
    elif tool == "robins_i" and randomized is True:
        check.add("risk_of_bias.tool", tool, "ROBINS-I is for non-randomized studies but 'randomized' is true in "
                  "study.yaml; use rob2 for a randomized trial", "warning")


def _overall_warnings(check: _Checker, tool: str, found: dict, overall: str | None) -> None:
    """RoB 2 and ROBINS-I both make the overall judgement at least as severe as the worst domain."""
    if overall is None:
        return
    ranked = [(severity(tool, lv), d, lv) for d, lv in found.items() if severity(tool, lv) is not None]
    if ranked:
        worst_rank, domain, level = max(ranked)
        if severity(tool, overall) is not None and severity(tool, overall) < worst_rank:
            check.add("risk_of_bias.overall.judgement", overall,
                      f"the overall judgement {overall!r} is milder than domain {domain!r} ({level!r}); "
                      f"{TOOLS[tool]} makes the overall judgement at least as severe as the worst domain", "warning")
    missing = [d for d in DOMAINS[tool] if d not in found]
    if overall == "low" and missing:
        check.add("risk_of_bias.overall.judgement", overall,
                  f"the overall judgement is 'low' but domains {', '.join(missing)} are not assessed; "
                  "a low overall risk needs every domain judged low", "warning")


# ----------------------------------------------------------------------------------------------
# The long table: one row per study x domain (and overall), "not_assessed" where nothing is recorded
# ----------------------------------------------------------------------------------------------

RISK_OF_BIAS_TABLE = pa.schema([
    pa.field("study_id", pa.string(), metadata={"description": "study folder name"}),
    pa.field("tool", pa.string(), metadata={"description": "rob2 or robins_i (for a study not assessed: the tool its "
                                                           "design calls for)"}),
    pa.field("assessed", pa.bool_(), metadata={"description": "false if study.yaml has no risk_of_bias"}),
    pa.field("domain", pa.string(), metadata={"description": "domain id, or 'overall'"}),
    pa.field("domain_label", pa.string(), metadata={"description": "domain name for people"}),
    pa.field("judgement", pa.string(), metadata={"description": "level of the tool, or not_assessed"}),
    pa.field("support", pa.string(), metadata={"description": "verbatim support quote"}),
    pa.field("source", pa.string(), metadata={"description": "where the support is printed"}),
])


def risk_of_bias_rows(meta: dict) -> list[dict]:
    """One row per domain of the study's tool plus 'overall' (columns of RISK_OF_BIAS_TABLE).

    Only valid content is read (run validate_risk_of_bias first): an unknown domain or level is left out,
    and a domain not listed is "not_assessed".
    """
    study_id = str(meta.get("id", ""))
    assessment = meta.get("risk_of_bias") if isinstance(meta.get("risk_of_bias"), dict) else None
    tool = assessment.get("tool") if assessment else None
    assessed = tool in TOOLS
    tool = tool if assessed else expected_tool(meta.get("randomized"))
    recorded = {}
    if assessed:
        for entry in assessment.get("domains") or []:
            if isinstance(entry, dict) and entry.get("domain") in DOMAINS[tool] and entry.get("domain") not in recorded:
                recorded[entry["domain"]] = entry
        if isinstance(assessment.get("overall"), dict):
            recorded[OVERALL] = assessment["overall"]
    rows = []
    for domain, label in [*DOMAINS[tool].items(), (OVERALL, "Overall")]:
        entry = recorded.get(domain, {})
        level = entry.get("judgement")
        rows.append({"study_id": study_id, "tool": tool, "assessed": assessed, "domain": domain, "domain_label": label,
                     "judgement": level if level in LEVELS[tool] else NOT_ASSESSED,
                     "support": _text(entry.get("support")) or None, "source": _text(entry.get("source")) or None})
    return rows


def risk_of_bias_table(metas) -> pd.DataFrame:
    """The long table of several studies' study.yaml contents, in the order given."""
    rows = [r for meta in metas for r in risk_of_bias_rows(meta)]
    return pd.DataFrame(rows, columns=RISK_OF_BIAS_TABLE.names)


def overall_judgements(table: pd.DataFrame) -> dict[str, str]:
    """study_id -> overall judgement (or not_assessed), as the certainty rules take it."""
    overall = table[table["domain"] == OVERALL]
    return dict(zip(overall["study_id"], overall["judgement"]))
