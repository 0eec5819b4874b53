"""The report's section on extraction checks: values their own quotes do not print (validate.quotes), and the
disagreements between first and second extractions (validate.double_extraction)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from livertrials.io.tables import read_table
from livertrials.report.html import Html, esc, para, section, table
from livertrials.validate import double_extraction, quotes

ANCHOR, TITLE = "extraction-checks", "Extraction checks"


def _line(x) -> str:
    return "" if x is None or pd.isna(x) else str(int(x))


def quote_part(issues: pd.DataFrame) -> list[str]:
    found = issues[(issues["rule"] == quotes.RULE) & (issues["severity"] == "warning")] if not issues.empty else issues
    rows = [[r["study"], _line(r["row"]), r["row_id"], r["value"], r["message"]] for r in found.to_dict("records")]
    return ["<h3>Value in quote</h3>",
            Html(f'<p class="{"note" if rows else "ok"}">{len(rows)} row{"" if len(rows) == 1 else "s"} with a value '
                 f"that does not appear in its own quote (in any printed form: 1,234, 1 234, decimal comma, U+2212 minus, full-width digits, ±, number "
                 f"words). Each is a validation warning: check the value against the source. Rows flagged "
                 f"<code>{esc(quotes.QUOTE_FLAG)}</code> (the quote does not print the value on purpose) are not "
                 f"checked.</p>"),
            table(["Study", "Line", "Row id", "Value", "Message"], rows, "small")]


def double_part(path: Path, config: dict) -> list[str]:
    head = "<h3>Double extraction</h3>"
    if not path.exists():
        return [head, para("No double-extraction table in this results folder.", "small")]
    found = read_table(path)
    compared = double_extraction.compared_studies(path)
    excluding = bool(config.get("exclude_unresolved_double_extraction"))
    with_disagreements = sorted(set(found["study"])) if not found.empty else []
    if not compared:
        note = para(f"No study folder holds a second extraction ({double_extraction.SECOND_FILE}).", "small")
    else:
        consequence = ("excluded (exclude_unresolved_double_extraction: true)" if excluding else
                       "kept; set exclude_unresolved_double_extraction: true to exclude them until resolved")
        note = Html(f'<p class="{"warn" if len(found) else "ok"}">{len(compared)} stud{"y" if len(compared) == 1 else "ies"} '
                    f"with a second extraction ({esc(', '.join(compared))}): {len(found)} disagreement"
                    f"{'' if len(found) == 1 else 's'} in {len(with_disagreements)} of them"
                    + (f", which are {esc(consequence)}" if with_disagreements else "") + ".</p>")
    rows = [[r["study"], r["kind"], r["column"], r["row_id"], r["second_row_id"],
             f"{_line(r['line'])} / {_line(r['second_line'])}", r["first"], r["second"], r["matched_by"]]
            for r in found.to_dict("records")]
    return [head, note, table(["Study", "Kind", "Column", "Row id", "Second row id", "Lines (first / second)", "First",
                               "Second", "Matched by"], rows, "small")]


def extraction_checks_section(results: Path, issues: pd.DataFrame, config: dict) -> Html:
    """Value-in-quote warnings and double-extraction disagreements, each with its count and table."""
    path = Path(results) / "validation" / "double_extraction.parquet"
    return section(ANCHOR, TITLE, *quote_part(issues), *double_part(path, config))
