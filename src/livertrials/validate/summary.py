"""The validation outcome of a run: summary counts, the text report, and the check that ends the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from livertrials.io.atomic import write_text
from livertrials.validate.issues import Issue


def validation_summary(issues: pd.DataFrame) -> dict:
    if issues.empty:
        return {"rejected_studies": {}, "warnings": 0}
    errors = issues[issues["severity"] == "error"]
    return {
        "rejected_studies": {s: int(len(g)) for s, g in errors.groupby("study")},
        "warnings": int((issues["severity"] == "warning").sum()),
    }


def validation_text(issues: pd.DataFrame) -> str:
    if issues.empty or not (issues["severity"] == "error").any():
        warnings = 0 if issues.empty else int((issues["severity"] == "warning").sum())
        return f"All studies passed validation ({warnings} warnings carried as flags).\n"
    lines = []
    errors = issues[issues["severity"] == "error"]
    for study, group in errors.groupby("study", sort=True):
        lines.append(f"Study {study} was excluded ({len(group)} errors):")
        lines += [f"  - {Issue(**{k: (None if pd.isna(v) else v) for k, v in row.items() if k != 'issue_id'})}"
                  for row in group.to_dict("records")]
    return "\n".join(lines) + "\n"


def check_validation(summary_path, report_path, out_path, fail: bool) -> bool:
    """Write the check marker; return False (and print the report) if studies were excluded and fail is set."""
    summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    rejected = summary.get("rejected_studies", {})
    if rejected and fail:
        report = Path(report_path).read_text(encoding="utf-8")
        print(report, file=sys.stderr)
        sys.__stderr__.write(
            f"\n{len(rejected)} study(ies) excluded by validation: {', '.join(sorted(rejected))}.\n{report}\n"
            "Every other study was built. Fix the extraction(s) above, or set fail_on_invalid_studies: false.\n"
        )
        return False
    write_text(out_path, f"validation checked: {len(rejected)} excluded study(ies)\n")
    return True
