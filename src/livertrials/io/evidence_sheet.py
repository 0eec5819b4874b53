"""Transcribe the team's evidence sheets into per-study extraction folders.

Each evidence sheet (`resources/evidence/extractions.csv`, `extractions_2.csv`) holds one
printed number per row, with its verbatim quote. This module splits them into the
project's extraction format, one folder per study (a study may take rows from both
sheets): the numbers, units and quotes are copied character for character; only
annotations the sheet wrote *inside* a cell (e.g. ``not printed (presumably g/L)`` in the
unit cell) are moved to the columns meant for them (``unit_presumed``, ``note``), so that a
presumed unit is never mistaken for a printed one. Each row's note names the sheet it
came from.

Study metadata (arms, roles, interventions, cell source, route, ...) is curated by hand
in each folder's ``study.yaml``. A first run writes a draft ``study.yaml``; later runs keep
it and use each arm's ``printed_labels`` to map the sheet's arm labels to arm ids, so the
transcription can be regenerated at any time and checked against the sheets
(``tests/test_io_shipped_corpus.py``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from livertrials.io.extraction import MEASUREMENT_COLUMNS, write_measurements
from livertrials.io.timepoints import TimepointError, parse_timepoint

# Every sheet, in reading order; all are transcribed together (a folder is written once, from all its rows).
SHEETS = (Path("resources/evidence/extractions.csv"), Path("resources/evidence/extractions_2.csv"))

# Rows whose quote does not print the value itself (a value read from a shorthand, a gloss), curated by hand with a
# reason, next to the sheets: transcribed with the flag quote_is_gloss (validate.quotes; resources/README.md).
GLOSS_FILE = "quote_is_gloss.csv"

# Published meta-analyses and trial lists: comparators, never pooled as trials
# (resources/evidence/README.md, "Published meta-analyses are comparators").
COMPARATOR_IDS = {"LiJing2019", "Ding2024", "Pan2014", "Pankaj2015", "ESLD-MA-CN", "Cao2018", "Xue2018",
                  # second sheet (its README, "New comparators")
                  "Yang2016_GCSF_MA", "Hou2021_GCSF_ACLF_MA", "QiuB_GCSF_ACLF_MA", "Marot2020_GCSF_AH_MA",
                  "TJG2019_BMDSC_MA", "Eureka2016_SC31_MA"}
COMPARATOR_PREFIXES = ("Sun2020_list",)

UNCERTAIN_ARM_PATTERNS = re.compile(
    r"first value of pair|second value of pair|unlabelled|not labelled|order unconfirmed|"
    r"attribution per sentence order|probably",
    re.IGNORECASE,
)
CONTRAST_PATTERN = re.compile(r"\bvs\.?\b|between groups", re.IGNORECASE)
WHOLE_STUDY_PATTERN = re.compile(r"^(all randomized|pooled \(all|both arms)", re.IGNORECASE)
# "[secondary source]", or a bracketed note that says so ("[Cochrane ... table, row ...; secondary source]")
SECONDARY_PATTERN = re.compile(r"\[[^\]]*\bsecondary source\b[^\]]*\]", re.IGNORECASE)
# actuarial (life-table) survival is a Kaplan-Meier-type estimate, not a crude proportion
KM_OUTCOME_PATTERN = re.compile(r"actuarial|kaplan", re.IGNORECASE)
WITHIN_PATTERN = re.compile(r"^within\s+(\d+(?:\.\d+)?)\s+(day|week|month|year)s?\b", re.IGNORECASE)
CONTROL_PATTERN = re.compile(r"control|placebo|standard|routine|\bSMT\b|non-SCT|conventional|supportive|no treatment", re.IGNORECASE)


@dataclass(frozen=True)
class StudyRef:
    evidence_id: str  # study_id as written in the sheet
    folder_id: str  # safe folder name
    id_note: str  # what the sheet said beside the id, e.g. "authors not captured"
    collection: str  # "studies" or "comparators"


def study_ref(sheet_study_id: str) -> StudyRef:
    """Split a sheet study id like ``ESLD-MA-CN (authors not captured)`` into a safe id and its note."""
    match = re.match(r"^(.*?)\s*\((.*)\)\s*$", sheet_study_id)
    base, note = (match.group(1), match.group(2)) if match else (sheet_study_id, "")
    folder_id = base.replace(":", "-")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", folder_id) or ".." in folder_id:
        raise ValueError(f"sheet study id {sheet_study_id!r} cannot be a folder name (letters, digits, _ . - only)")
    is_comparator = base in COMPARATOR_IDS or base.startswith(COMPARATOR_PREFIXES)
    return StudyRef(sheet_study_id, folder_id, note, "comparators" if is_comparator else "studies")


def split_unit(cell: str) -> tuple[str, str, str]:
    """Return (unit as printed, presumed unit, note) from a sheet unit cell."""
    cell = cell.strip()
    presumed = re.search(r"(?:presumably|consistent with)\s+([^)\s]+(?:/[^)\s]+)?)", cell)
    if cell.startswith("not printed") or cell.startswith("unit truncated"):
        return "", presumed.group(1) if presumed else "", cell
    inline = re.match(r"^(\S+)\s+\((.*)\)$", cell)
    if inline:  # e.g. "mg/dL (unit stated only for 6-mo estimate)"
        return inline.group(1), "", inline.group(2)
    return cell, "", ""


def split_statistic(cell: str) -> tuple[str, str]:
    """Return (statistic, note) from a sheet statistic cell with an optional comment."""
    match = re.match(r"^(\w+)\s*\((.*)\)\s*$", cell.strip())
    return (match.group(1), match.group(2)) if match else (cell.strip(), "")


def split_value(cell: str) -> tuple[str, str, bool]:
    """Return (value as printed, note, not_printed) from a sheet value cell."""
    cell = cell.strip()
    if cell.lower() == "not printed":
        return "", "value not printed", True
    match = re.match(r"^(\S+)\s+\((.*)\)$", cell)
    if match:  # e.g. "0.000 (as printed)"
        return match.group(1), match.group(2), False
    return cell, "", False


def split_source(cell: str) -> tuple[str, str]:
    """Return (source, location): a trailing parenthesis names where in the source."""
    match = re.match(r"^(\S+)\s+\((.*)\)$", cell.strip())
    return (match.group(1), match.group(2)) if match else (cell.strip(), "")


def row_flags(row: dict) -> list[str]:
    flags = []
    if SECONDARY_PATTERN.search(row["quote"]):
        flags.append("secondary_source")
    if UNCERTAIN_ARM_PATTERNS.search(row["arm"]):
        flags.append("arm_attribution_uncertain")
    if KM_OUTCOME_PATTERN.search(row["outcome"]):
        flags.append("km_estimate")
    return flags


def readable_timepoint(cell: str) -> tuple[str, str]:
    """(timepoint, note): the sheet's timepoint, or where the parser cannot read it, a readable
    form that keeps the printed text as its qualifier (and a note that says so).

    ``randomisation`` is baseline; ``within N months`` is the range from the start (``first N
    months``); anything else unreadable (``after 6 months``, ``not applicable``) is not stated.
    """
    printed = cell.strip()
    if not printed:
        return "not stated", "timepoint cell empty in the evidence sheet"
    try:
        parse_timepoint(printed)
        return printed, ""
    except TimepointError:
        pass
    within = WITHIN_PATTERN.match(printed)
    if re.match(r"^randomi[sz]ation\b", printed, re.IGNORECASE):
        readable = f"baseline ({printed})"
    elif within:
        number, unit = within.group(1), within.group(2).lower()
        readable = f"first {number} {unit}{'' if number == '1' else 's'} ({printed})"
    else:
        readable = f"not stated ({printed})"
    parse_timepoint(readable)  # a rule above that no longer parses must fail here, not downstream
    return readable, f"timepoint printed as {printed!r} is not readable as such; written as {readable!r}"


def gloss_rows(sheets) -> set[str]:
    """Row ids listed in GLOSS_FILE beside the (first) sheet; none if there is no such file."""
    path = Path(sheets if isinstance(sheets, Path) else sheets[0]).parent / GLOSS_FILE
    if not path.is_file():
        return set()
    with open(path, newline="", encoding="utf-8") as handle:
        return {r["row_id"] for r in csv.DictReader(handle)}


def transcribe_row(row: dict, arm_id: str, gloss: bool = False) -> dict:
    unit, unit_presumed, unit_note = split_unit(row["unit"])
    statistic, statistic_note = split_statistic(row["statistic"])
    value, value_note, not_printed = split_value(row["value"])
    source, location = split_source(row["source"])
    flags = row_flags(row) + (["not_printed"] if not_printed else []) + (["quote_is_gloss"] if gloss else [])
    timepoint, timepoint_note = readable_timepoint(row["timepoint"])
    notes = [n for n in (statistic_note, value_note, unit_note, timepoint_note) if n]
    notes.append(f"evidence sheet: {row['sheet']}")  # provenance: which sheet this row was transcribed from
    return {
        "row_id": row["row_id"],
        "arm": arm_id,
        "arm_as_printed": row["arm"],
        "timepoint": timepoint,
        "outcome": row["outcome"],
        "statistic": statistic,
        "value": value,
        "unit": unit,
        "unit_presumed": unit_presumed,
        "source": source,
        "location": location,
        "quote": row["quote"],
        "note": "; ".join(notes),
        "flags": ";".join(flags),
    }


def guess_role(label: str) -> str:
    if CONTRAST_PATTERN.search(label):
        return "contrast"
    if WHOLE_STUDY_PATTERN.search(label) or "arm not stated" in label or "split" in label:
        return "all"
    if CONTROL_PATTERN.search(label):
        return "control"
    return "intervention"


def parse_arm_n(cell: str) -> tuple[int | None, str]:
    """Return (n, note): the sheet's arm_n is a number, or a number with a comment, or text."""
    cell = cell.strip()
    match = re.match(r"^(\d+)\s*(.*)$", cell)
    if match:
        return int(match.group(1)), match.group(2).strip(" ()")
    return None, cell


def draft_study_yaml(ref: StudyRef, rows: list[dict]) -> dict:
    """A first study.yaml from the sheet; curators complete it by hand."""
    first = rows[0]
    arms, contrasts, seen = [], [], {}
    for row in rows:
        label = row["arm"]
        if label in seen:
            continue
        seen[label] = True
        n, n_note = parse_arm_n(row["arm_n"])
        role = guess_role(label)
        entry = {"id": f"arm{len(arms) + len(contrasts) + 1}", "label": label, "printed_labels": [label]}
        if role == "contrast":
            entry.update({"intervention": None, "control": None, "n_total": n})
            contrasts.append(entry)
        else:
            # intervention left empty on purpose: validation asks the curator for a registry id
            entry.update({"role": role, "intervention": None, "n_randomized": n})
            if n_note:
                entry["n_note"] = n_note
            arms.append(entry)
    doi = first["doi_or_pmid"]
    sources = sorted({split_source(r["source"])[0] for r in rows})
    return {
        "id": ref.folder_id,
        "evidence_study_id": ref.evidence_id,
        "kind": "meta_analysis" if ref.collection == "comparators" else "trial",
        "citation": first["citation"],
        "doi_or_pmid": doi,
        "design": first["design"],
        "randomized": None,
        "population": first["population"],
        "condition": None,
        "country": None,
        "arms": arms,
        "contrasts": contrasts,
        "sources": sources,
        "flags": [],
    }


def arm_lookup(study: dict) -> dict[str, str]:
    lookup = {}
    for group in (study.get("arms") or []) + (study.get("contrasts") or []):
        for label in group.get("printed_labels") or [group.get("label")]:
            lookup[label] = group["id"]
    return lookup


def read_sheets(sheets: Path | list[Path] | tuple[Path, ...]) -> list[dict]:
    """Rows of every sheet, in order, each with ``sheet`` (the file name) added; row ids must be unique across sheets."""
    rows, seen = [], {}
    for sheet in [sheets] if isinstance(sheets, Path) else sheets:
        with open(sheet, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["row_id"] in seen:
                    raise ValueError(f"{sheet}: row_id {row['row_id']} is also in {seen[row['row_id']]}")
                seen[row["row_id"]] = sheet.name
                rows.append(dict(row, sheet=sheet.name))
    return rows


def import_sheet(sheets: Path | list[Path] | tuple[Path, ...], resources: Path, only: set[str] | None = None) -> dict[str, int]:
    """Write every study's measurements.csv from one sheet or several (and a draft study.yaml where none exists).

    Pass every sheet at once: a folder is rewritten from the rows given, so a study fed by two
    sheets (e.g. Garg2012) would lose the rows of a sheet left out. Returns the number of rows
    written per study folder. Raises ValueError naming the study and label when a sheet arm
    label is not mapped in an existing study.yaml.
    """
    by_study: dict[str, list[dict]] = {}
    glosses = gloss_rows(sheets)
    for row in read_sheets(sheets):
        by_study.setdefault(row["study_id"], []).append(row)
    written = {}
    for sheet_id, study_rows in by_study.items():
        ref = study_ref(sheet_id)
        if only and ref.folder_id not in only:
            continue
        folder = resources / ref.collection / ref.folder_id
        folder.mkdir(parents=True, exist_ok=True)
        study_file = folder / "study.yaml"
        if not study_file.exists():
            study_file.write_text(yaml.safe_dump(draft_study_yaml(ref, study_rows), sort_keys=False, allow_unicode=True, width=100))
        study = yaml.safe_load(study_file.read_text(encoding="utf-8"))
        lookup = arm_lookup(study)
        missing = sorted({r["arm"] for r in study_rows} - set(lookup))
        if missing:
            raise ValueError(f"{study_file}: sheet arm labels not in any printed_labels: {missing}")
        records = [transcribe_row(r, lookup[r["arm"]], r["row_id"] in glosses) for r in study_rows]
        write_measurements(folder / "measurements.csv", records)
        written[f"{ref.collection}/{ref.folder_id}"] = len(records)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m livertrials.io.evidence_sheet [STUDY ...]``: (re)transcribe from every sheet."""
    import sys

    only = set(sys.argv[1:] if argv is None else argv) or None
    written = import_sheet(SHEETS, Path("resources"), only)
    print(f"transcribed {sum(written.values())} rows into {len(written)} folders")


if __name__ == "__main__":
    main()


__all__ = ["import_sheet", "read_sheets", "readable_timepoint", "SHEETS", "study_ref", "split_unit", "split_statistic", "split_value", "MEASUREMENT_COLUMNS"]
