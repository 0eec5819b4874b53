"""The extraction format: one folder per study with ``study.yaml`` and ``measurements.csv``.

Reading never interprets a number: every measurement cell is read as text exactly as
written, so validation can report the value as the extractor typed it. Documented for
users in ``resources/README.md``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from livertrials.atomic import atomic_path

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
FILE_SIZE_LIMIT = 20 * 1024 * 1024  # far above any real extraction; protects the build


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
    measurements: pd.DataFrame  # all columns as str, "" for empty cells
    extra_columns: list[str] = field(default_factory=list)

    @property
    def study_id(self) -> str:
        return self.folder.name


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ExtractionReadError(path, f"{path.name} is missing", "required file")
    if path.stat().st_size > FILE_SIZE_LIMIT:
        raise ExtractionReadError(path, f"{path.name} is larger than {FILE_SIZE_LIMIT // 2**20} MiB", "file size limit")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExtractionReadError(
            path, f"{path.name} is not UTF-8 text (byte {error.start}: {raw[error.start:error.start + 1]!r}); save it as UTF-8", "UTF-8 encoding"
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark from Excel is harmless


def read_study_yaml(path: Path) -> dict:
    text = _read_text(path)
    try:
        # safe_load: a tag such as !!python/object is refused, never executed.
        meta = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ExtractionReadError(path, f"study.yaml is not valid YAML{where}: {problem}", "valid YAML") from None
    if not isinstance(meta, dict):
        raise ExtractionReadError(path, "study.yaml must be a mapping of keys to values", "valid YAML")
    return meta


def read_measurements(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    if not text.strip():
        raise ExtractionReadError(path, "measurements.csv is empty", "non-empty table")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, csv.Error) as error:
        raise ExtractionReadError(path, f"measurements.csv cannot be parsed as CSV: {error}", "comma-separated table") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def load_study(folder: Path) -> StudyFolder:
    meta = read_study_yaml(folder / STUDY_FILE)
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
