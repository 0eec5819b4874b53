"""The extraction format: one folder per study with ``study.yaml`` and ``measurements.csv``.

Reading never interprets a number: every measurement cell is read as text exactly as
written, so validation can report the value as the extractor typed it. Documented for
users in ``resources/README.md``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from livertrials.io.atomic import atomic_path
from livertrials.io.text import quoted, shorten

STUDY_FILE = "study.yaml"
MEASUREMENTS_FILE = "measurements.csv"

MEASUREMENT_COLUMNS = [
    "row_id",  # stable id of the printed number (evidence sheet id, or the extractor's own)
    "arm",  # arm id or contrast id from study.yaml
    "arm_as_printed",  # the arm label the source printed beside this number
    "timepoint",  # as printed: "baseline", "week 4", "month 3", "not stated", ...
    "outcome",  # an outcome name or alias from resources/registry/outcomes.yaml
    "statistic",  # mean, sd, median, q1, q3, count, proportion, p_value, ...
    "value",  # as printed ("<0.05" stays text)
    "unit",  # as printed; empty if the source printed none
    "unit_presumed",  # a unit the extractor presumes when none was printed (flagged)
    "source",  # URL or document
    "location",  # where in the source: page, table, abstract
    "quote",  # the verbatim sentence
    "note",  # the extractor's remarks
    "flags",  # semicolon-separated caveats, e.g. secondary_source;arm_attribution_uncertain
]
REQUIRED_COLUMNS = ["row_id", "arm", "timepoint", "outcome", "statistic", "value", "unit", "source", "quote"]
# Each of study.yaml, measurements.csv and patients.csv: the largest shipped file is 25 KB, so this is far above
# any real extraction and keeps one broken or hostile file from exhausting memory or time.
FILE_SIZE_LIMIT = 5 * 1024 * 1024


class ExtractionReadError(Exception):
    """A study folder that cannot be read at all (missing file, broken YAML or CSV)."""

    def __init__(self, file: Path, message: str, rule: str = "readable file"):
        super().__init__(message)
        self.file = file
        self.message = message
        self.rule = rule


@dataclass
class StudyFolder:
    folder: Path
    meta: dict
    # all columns as str, "" for empty cells; the index is the row's line in the file minus 2
    # (line 1 is the header), so index + 2 names the line even after blank lines
    measurements: pd.DataFrame
    extra_columns: list[str] = field(default_factory=list)

    @property
    def study_id(self) -> str:
        return self.folder.name


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ExtractionReadError(path, f"{path.name} is a folder, not a file: put the table itself at {path.name} "
                                        "(a file saved as CSV, not a folder of that name)", "required file")
    if not path.is_file():
        raise ExtractionReadError(path, f"{path.name} is missing", "required file")
    _refuse_outside_link(path)
    with open(path, "rb") as handle:
        raw = handle.read(FILE_SIZE_LIMIT + 1)  # never more, even if the file grows after a size check
    if len(raw) > FILE_SIZE_LIMIT:
        raise ExtractionReadError(path, f"{path.name} is larger than {FILE_SIZE_LIMIT // 2**20} MiB: an extraction is "
                                        "far smaller; check that this is the right file", "file size limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExtractionReadError(
            path, f"{path.name} is not UTF-8 text (byte {error.start}: {raw[error.start:error.start + 1]!r}); save it as UTF-8", "UTF-8 encoding"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ExtractionReadError(path, f"{path.name} contains a NUL byte on line {line}: it is not a plain text file", "plain text")
    return text.removeprefix("\ufeff")  # a byte-order mark from Excel is harmless


def _refuse_outside_link(path: Path) -> None:
    """A study file must live in its study folder: a symbolic link to a file elsewhere would bring in content
    that the folder (and the RO-Crate, which packs the folder) does not hold."""
    folder, target, hops = Path(os.path.abspath(path.parent)), Path(os.path.abspath(path)), 0
    # followed by name only, and no further than the folder: a target outside is never opened or stat-ed
    while target.is_relative_to(folder) and target.is_symlink() and hops < 40:
        target, hops = Path(os.path.normpath(target.parent / os.readlink(target))), hops + 1
    if not target.is_relative_to(folder):
        raise ExtractionReadError(path, f"{path.name} is a symbolic link to a file outside the study folder "
                                        f"({shorten(str(target), 120)}): copy the file into the study folder instead "
                                        "of linking to it", "file inside the study folder")


# libyaml's parser when PyYAML was built with it (faster); the constructor is the safe one either way
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StudyLoader(_SafeBase):
    """A safe YAML loader that also refuses a key given twice in one mapping (YAML would keep the last silently)
    and any alias (``*name``): study.yaml has no use for them, and nested aliases make a 1 KB file stand for
    billions of values (a "billion laughs" bomb) that validation or a report would then walk."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _refuse_aliases(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {quoted(key)} appears more than once in the same mapping", key_node.start_mark)
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _refuse_aliases(root) -> None:
    """Raise if any node is reached twice: the composer makes a new node for every value written out,
    so a node met again is an alias (or a merge key, ``<<: *name``). Stops at the first, so it is cheap."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise yaml.composer.ComposerError(
                None, None, "the value anchored here (&name) is used again by an alias (*name): aliases and merge "
                "keys are not allowed in study.yaml; write the values out", node.start_mark)
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)


def read_study_yaml(path: Path) -> dict:
    text = _read_text(path)
    try:
        # a SafeLoader: a tag such as !!python/object is refused, never executed.
        meta = yaml.load(text, Loader=_StudyLoader)  # noqa: S506 (safe loader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        hint = " (tags such as !!python/... are refused: study.yaml holds plain values only)" if "constructor for the tag" in problem else ""
        raise ExtractionReadError(path, f"study.yaml is not valid YAML{where}: {shorten(problem, 200)}{hint}", "valid YAML") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise ExtractionReadError(path, f"study.yaml has a value that cannot be read: {shorten(str(error), 200)}",
                                  "valid YAML") from None
    if meta is None:
        raise ExtractionReadError(path, "study.yaml is empty", "valid YAML")
    if not isinstance(meta, dict):
        raise ExtractionReadError(path, f"study.yaml must be a mapping of keys to values, not a {type(meta).__name__}", "valid YAML")
    return meta


def read_measurements(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    if not text.strip():
        raise ExtractionReadError(path, f"{path.name} is empty", "non-empty table")
    header, records, lines = _parse_csv(path, text)
    frame = pd.DataFrame(records, columns=header, index=[line - 2 for line in lines], dtype=str)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _parse_csv(path: Path, text: str) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, records, line of each record) of a comma-separated text; every record as wide as the header.

    Blank lines are skipped; a record's line is where it starts (a quoted cell may span lines)."""
    def fail(message: str, rule: str = "comma-separated table"):
        raise ExtractionReadError(path, message, rule)

    problem = _separator_problem(path.name, next((line for line in text.splitlines() if line.strip()), ""))
    if problem:
        fail(problem)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, records, lines, start = None, [], [], 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if header is None:
                header = record
                names = [c.strip() for c in header]
                twice = sorted({c for c in names if names.count(c) > 1})
                if twice:
                    fail(f"column {quoted(twice[0])} appears more than once in the header (line 1); each column must appear once",
                         "unique column names")
                continue
            if len(record) != len(header):
                hint = ("a cell containing a comma must be put in double quotes" if len(record) > len(header)
                        else "cells are missing, or the line was cut")
                fail(f"line {line} has {len(record)} fields but the header has {len(header)}: {hint}")
            records.append(record)
            lines.append(line)
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            fail(f"a double quote opened on line {start} is never closed (the file ends inside a quoted cell)")
        fail(f"{path.name} cannot be parsed as CSV at line {reader.line_num}: {error}")
    if header is None:
        fail(f"{path.name} has no header line (only empty cells)", "non-empty table")
    return header, records, lines


SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
EXCEL_SEPARATOR_LINE = re.compile(r'"?sep=(.?)"?,*')


def _fields(line: str, delimiter: str) -> list[str] | None:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


def _separator_problem(name: str, first: str) -> str | None:
    """Why the first line is not a comma-separated header (an Excel ``sep=`` line, another separator), or None."""
    excel = EXCEL_SEPARATOR_LINE.fullmatch(first.strip())
    if excel:
        return (f"line 1 of {name} is {first.strip()[:20]!r}, a separator hint Excel writes, not a header: delete that "
                "line so that the header (row_id,arm,...) is line 1" + ("" if excel.group(1) in {",", ""} else
                                                                         ", and save the file with commas as separator"))
    commas = _fields(first, ",")
    for mark, word in SEPARATORS.items():
        split = _fields(first, mark)
        if split is not None and len(split) > 2 and (commas is None or len(split) > len(commas)):
            return (f"{name} appears to be separated by {word} ({mark!r}), not commas (line 1: {first[:60]!r}...); "
                    "save it as comma-separated CSV (a dot as decimal mark)")
    return None


def load_study(folder: Path) -> StudyFolder:
    return load_measurements(folder, read_study_yaml(folder / STUDY_FILE))


def load_measurements(folder: Path, meta: dict) -> StudyFolder:
    """The study with its measurements.csv read (``meta``: its study.yaml, already read)."""
    measurements = read_measurements(folder / MEASUREMENTS_FILE)
    extra = [c for c in measurements.columns if c not in MEASUREMENT_COLUMNS]
    for column in MEASUREMENT_COLUMNS:
        if column not in measurements.columns and column not in REQUIRED_COLUMNS:
            measurements[column] = ""
    return StudyFolder(folder, meta, measurements, extra)


def write_measurements(path: Path, records: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=MEASUREMENT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)


def study_folders(root: Path) -> list[Path]:
    """Study folders under ``root``: every sub-folder holding a study.yaml, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
