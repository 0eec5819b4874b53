"""Double extraction (Cochrane Handbook 5.5.2: two people extract independently, then resolve every disagreement).

A study folder may hold a second extractor's ``measurements.second.csv`` in the format of
``measurements.csv``. The two are compared row by row: rows are matched by ``row_id``, else (rows whose
id the other file does not use) by arm + timepoint + outcome + statistic, in file order. Every
disagreement is reported: a row only one extractor has, or a matched pair differing in value, unit,
presumed unit, arm, timepoint, outcome or statistic. Values are compared as numbers where both are
(36.40 = 36.4), else as written; outcome, statistic and unit as the registry reads them (aliases and
spellings agree) when a registry is given. ``livertrials compare-extractions`` prints them, the workflow
writes ``results/validation/double_extraction.parquet`` and the report shows it; with
``exclude_unresolved_double_extraction: true`` each one is an error that excludes its study.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa

from livertrials.io.extraction import MEASUREMENTS_FILE, ExtractionReadError, read_measurements
from livertrials.io.numbers import parse_number
from livertrials.io.registry import Registry
from livertrials.io.tables import field, to_table, write_table
from livertrials.io.text import quoted, shorten
from livertrials.validate.issues import Issue

SECOND_FILE = "measurements.second.csv"
COMPARED_KEY = "livertrials.double_extraction.studies"  # Parquet metadata: the studies compared, with or without disagreements
RULE = "double extraction agrees"
KEY = ("arm", "timepoint", "outcome", "statistic")
BY_KEY = "+".join(KEY)
COMPARED = ("arm", "timepoint", "outcome", "statistic", "value", "unit", "unit_presumed")

DOUBLE_EXTRACTION = pa.schema([
    field("study", pa.string(), "study folder name"),
    field("collection", pa.string(), "studies or comparators"),
    field("kind", pa.string(), "missing in second (a row only the first extraction has), missing in first, different "
                               "(a matched pair differs in `column`), or unreadable (a file could not be compared)"),
    field("column", pa.string(), "the column that differs (value, unit, unit_presumed, arm, timepoint, outcome, "
                                 "statistic); empty for a missing row"),
    field("row_id", pa.string(), "row_id in measurements.csv (empty if the row is missing there)"),
    field("second_row_id", pa.string(), "row_id in measurements.second.csv (empty if the row is missing there)"),
    field("line", pa.int64(), "line in measurements.csv (1 = header)"),
    field("second_line", pa.int64(), "line in measurements.second.csv (1 = header)"),
    field("matched_by", pa.string(), "row_id, or arm+timepoint+outcome+statistic; empty for a missing row"),
    field("first", pa.string(), "the cell (or, for a missing row, the row) as measurements.csv has it"),
    field("second", pa.string(), "the cell (or, for a missing row, the row) as measurements.second.csv has it"),
    field("file", pa.string(), "the first extraction (measurements.csv)"),
    field("second_file", pa.string(), "the second extraction (measurements.second.csv)"),
    field("message", pa.string(), "the disagreement in words"),
])


@dataclass(frozen=True)
class Disagreement:
    study: str
    collection: str
    kind: str
    column: str
    row_id: str
    second_row_id: str
    line: int | None
    second_line: int | None
    matched_by: str
    first: str
    second: str
    file: str
    second_file: str
    message: str

    def __str__(self) -> str:
        return f"DISAGREE {self.study}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def has_second_extraction(folder: Path) -> bool:
    return (Path(folder) / SECOND_FILE).is_file()


def _text(value) -> str:
    return " ".join(str(value).split())


class _Reader:
    """How one cell is compared: numbers as numbers; outcome, statistic, unit as the registry reads them."""

    def __init__(self, registry: Registry | None):
        self.registry = registry

    def __call__(self, column: str, value) -> object:
        text = _text(value)
        if column == "value":
            return Decimal(text) if parse_number(text) is not None else text
        if column == "timepoint":
            return text.casefold()
        if self.registry is not None and text:
            found = {"outcome": self.registry.outcome, "statistic": self.registry.statistic}.get(column)
            if found is not None and found(text) is not None:
                return found(text).id
            if column in ("unit", "unit_presumed") and self.registry.unit(text) is not None:
                return self.registry.unit(text)
        return text.casefold() if column in ("outcome", "statistic") else text


def _row_text(row: dict) -> str:
    unit = _text(row.get("unit", "")) or (f"(presumed {_text(row.get('unit_presumed', ''))})" if _text(row.get("unit_presumed", "")) else "")
    return shorten(f"{_text(row.get('arm', ''))} / {_text(row.get('timepoint', ''))} / {_text(row.get('outcome', ''))} / "
                   f"{_text(row.get('statistic', ''))} = {_text(row.get('value', ''))} {unit}".strip(), 200)


def compare_frames(first: pd.DataFrame, second: pd.DataFrame, study: str, collection: str, file: str, second_file: str,
                   registry: Registry | None = None) -> list[Disagreement]:
    """Every disagreement between two extractions of one study (frames as read_measurements gives them)."""
    read = _Reader(registry)

    def rows(frame):
        return [(index + 2, {c: ("" if pd.isna(v) else str(v)) for c, v in row.items()})
                for index, row in zip(frame.index, frame.to_dict("records"))]

    def made(kind, column, one, two, matched_by, first_text, second_text, message):
        return Disagreement(study, collection, kind, column, one[1].get("row_id", "").strip() if one else "",
                            two[1].get("row_id", "").strip() if two else "", one[0] if one else None,
                            two[0] if two else None, matched_by, first_text, second_text, file, second_file, message)

    left, right = rows(first), rows(second)
    pairs: list[tuple[tuple, tuple, str]] = []
    right_by_id: dict[str, list[tuple]] = {}
    for item in right:
        right_by_id.setdefault(item[1].get("row_id", "").strip(), []).append(item)
    unmatched_left = []
    for item in left:
        same = right_by_id.get(item[1].get("row_id", "").strip()) if item[1].get("row_id", "").strip() else None
        if same:
            pairs.append((item, same.pop(0), "row_id"))
        else:
            unmatched_left.append(item)
    paired = {id(two) for _, two, _ in pairs}
    unmatched_right = [item for item in right if id(item) not in paired]

    def key(item):
        return tuple(read(c, item[1].get(c, "")) for c in KEY)

    waiting: dict[tuple, list[tuple]] = {}
    for item in unmatched_right:
        waiting.setdefault(key(item), []).append(item)
    only_first = []
    for item in unmatched_left:
        candidates = waiting.get(key(item))
        if candidates:
            pairs.append((item, candidates.pop(0), BY_KEY))
        else:
            only_first.append(item)
    only_second = [item for items in waiting.values() for item in items]

    found = []
    for one, two, matched_by in sorted(pairs, key=lambda p: p[0][0]):
        for column in COMPARED:
            a, b = one[1].get(column, ""), two[1].get(column, "")
            if read(column, a) != read(column, b):
                found.append(made("different", column, one, two, matched_by, _text(a), _text(b),
                                  f"{column} differs: {quoted(_text(a))} in {MEASUREMENTS_FILE} line {one[0]} (row_id "
                                  f"{quoted(one[1].get('row_id', '').strip())}), {quoted(_text(b))} in {SECOND_FILE} "
                                  f"line {two[0]} (matched by {matched_by})"))
    for item in only_first:
        found.append(made("missing in second", "", item, None, "", _row_text(item[1]), "",
                          f"row_id {quoted(item[1].get('row_id', '').strip())} ({MEASUREMENTS_FILE} line {item[0]}: "
                          f"{_row_text(item[1])}) has no match in {SECOND_FILE}"))
    for item in sorted(only_second, key=lambda i: i[0]):
        found.append(made("missing in first", "", None, item, "", "", _row_text(item[1]),
                          f"row_id {quoted(item[1].get('row_id', '').strip())} ({SECOND_FILE} line {item[0]}: "
                          f"{_row_text(item[1])}) has no match in {MEASUREMENTS_FILE}"))
    return found


def compare_folder(folder: Path, collection: str = "studies", registry: Registry | None = None) -> list[Disagreement]:
    """The disagreements of one study folder (none without a second extraction); never raises: a file that cannot
    be read, or anything else going wrong, is one disagreement of kind unreadable naming the file."""
    folder = Path(folder)
    first, second = folder / MEASUREMENTS_FILE, folder / SECOND_FILE
    if not second.is_file():
        return []

    def unreadable(file: Path, why: str) -> list[Disagreement]:
        return [Disagreement(folder.name, collection, "unreadable", "", "", "", None, None, "", "", "", str(first),
                             str(second), f"{file.name} cannot be compared: {shorten(why, 300)}")]

    frames = []
    for file in (first, second):
        try:
            frames.append(read_measurements(file))
        except ExtractionReadError as error:
            return unreadable(file, error.message)
        except Exception as error:  # noqa: BLE001 - one study's file must not stop the comparison of the others
            return unreadable(file, f"{type(error).__name__}: {error}")
    try:
        return compare_frames(frames[0], frames[1], folder.name, collection, str(first), str(second), registry)
    except Exception as error:  # noqa: BLE001
        return unreadable(second, f"{type(error).__name__}: {error}")


def double_extraction_table(folders: list[Path], collections: list[str], registry: Registry | None = None) -> pa.Table:
    found = [d.to_dict() for folder, collection in zip(folders, collections) for d in compare_folder(folder, collection, registry)]
    return to_table(found, DOUBLE_EXTRACTION)


def write_double_extraction(folders: list[Path], collections: list[str], registry: Registry | None, out: Path,
                            metadata: dict[str, str] | None = None) -> int:
    """Write the disagreements of every folder with a second extraction (the folders compared in the file's metadata,
    COMPARED_KEY); returns how many there are."""
    table = double_extraction_table(folders, collections, registry)
    compared = sorted(Path(f).name for f in folders if has_second_extraction(f))
    write_table(table, out, {**(metadata or {}), COMPARED_KEY: json.dumps(compared)})
    return table.num_rows


def compared_studies(path: Path) -> list[str]:
    """The studies a double_extraction.parquet compared (read from its metadata)."""
    import pyarrow.parquet as pq

    value = (pq.read_schema(path).metadata or {}).get(COMPARED_KEY.encode())
    return json.loads(value) if value else []


def disagreement_issues(frame: pd.DataFrame) -> list[Issue]:
    """One error Issue per disagreement (exclude_unresolved_double_extraction: true): the study is excluded
    until the two extractions agree (fix either file, or remove measurements.second.csv once resolved)."""
    issues = []
    for r in frame.to_dict("records"):
        line = r["line"] if pd.notna(r["line"]) else (r["second_line"] if pd.notna(r["second_line"]) else None)
        file = r["file"] if pd.notna(r["line"]) or pd.isna(r["second_line"]) else r["second_file"]
        issues.append(Issue(r["study"], str(file), None if line is None else int(line), r["row_id"] or r["second_row_id"],
                            r["column"], r["first"] if r["kind"] == "different" else "", RULE,
                            f"unresolved double extraction: {r['message']}; resolve it and make the two files agree "
                            "(or set exclude_unresolved_double_extraction: false)"))
    return issues


def comparison_lines(folders: list[Path], registry: Registry | None = None) -> tuple[list[str], int]:
    """What ``livertrials compare-extractions`` prints for these folders, and the number of disagreements."""
    lines, total = [], 0
    for folder in map(Path, folders):
        if not has_second_extraction(folder):
            lines.append(f"{folder}: no second extraction ({SECOND_FILE}) to compare")
            continue
        found = compare_folder(folder, registry=registry)
        lines += [str(d) for d in found]
        total += len(found)
        lines.append(f"{folder}: {len(found)} disagreement{'' if len(found) == 1 else 's'}" if found
                     else f"{folder}: the two extractions agree")
    return lines, total
