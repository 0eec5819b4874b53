"""Build steps called by the Snakemake rules: process a shard of studies, merge shards.

Studies are processed in shards (a stable hash of the study id picks the shard) so
that one process validates and harmonizes many studies: a per-study Snakemake job
would pay a fresh interpreter per study and miss the speed targets. Failure isolation
stays per study: a study that fails validation (or trips a bug) is recorded with its
errors and excluded, and every other study in the shard still builds. The final
``check_validation`` step fails the run if any study was excluded, after everything
else has been built, so a bad extraction is never silently dropped.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
import zlib
from pathlib import Path

import pandas as pd

from livertrials.harmonize import patients
from livertrials.io.extraction import (MEASUREMENT_COLUMNS, MEASUREMENTS_FILE, STUDY_FILE, ExtractionReadError, StudyFolder,
                                    load_study, read_study_yaml)
from livertrials.harmonize.records import harmonize_study, record_id
from livertrials.lineage.records import LINEAGE, record_lineage
from livertrials.io.registry import load_registry
from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, ISSUES, read_table, to_table, write_table
from livertrials.validate.study import Issue, validate_study, validate_study_meta


# shards: auto -> one batch per this many studies, at least 2 (two cores), at most 16. A batch job costs about
# 2.5 s of start-up (Python, pandas, pandera imports) and ~125 studies take about as long to harmonize
# (benchmarks/README.md); 8 batches for 60 shipped studies spent 4 s on start-ups in the critical path.
STUDIES_PER_SHARD = 125
AUTO_SHARDS = (2, 16)


def shard_count(setting: int | str, studies: int) -> int:
    """Number of batches: the configured number, or for ``auto`` one per STUDIES_PER_SHARD studies."""
    if setting != "auto":
        return int(setting)
    low, high = AUTO_SHARDS
    return min(high, max(low, math.ceil(studies / STUDIES_PER_SHARD)))


def shard_of(study_id: str, shards: int) -> int:
    """Stable shard number (crc32 does not change between runs, unlike hash())."""
    return zlib.crc32(study_id.encode()) % shards


def characteristics(meta: dict, study_id: str, collection: str) -> list[dict]:
    flags = [f"{f.get('code')}: {f.get('detail', '')}" for f in meta.get("flags") or []]
    base = {k: meta.get(k) for k in ("kind", "citation", "doi_or_pmid", "design", "randomized", "condition",
                                      "population", "etiology", "country")}
    base.update(study_id=study_id, collection=collection, meld_variant=meta.get("meld_variant", "not_stated"), study_flags=flags)
    rows = []
    for arm in meta.get("arms") or []:
        row = dict(base, characteristic_id=record_id(study_id, arm["id"], "characteristics"), arm_id=arm["id"],
                   arm_label=arm.get("label"), arm_role=arm.get("role"))
        for key in ("n_randomized", "n_analysed", "cell_source", "cell_type", "origin", "route", "dose", "infusions", "co_intervention"):
            row[key] = arm.get(key)
        rows.append(row)
    return rows


def process_study(folder: Path, collection: str, registry, lineage: list | None = None) -> tuple[list[dict], list[dict], list[Issue]]:
    """(harmonized records, characteristics rows, issues) of one study; never raises.

    If ``lineage`` is a list, the lineage edges of the records are appended to it.
    """
    patients_file = folder / patients.PATIENTS_FILE
    try:
        if patients_file.exists() and not (folder / MEASUREMENTS_FILE).exists():
            # a patient-level study needs no study-level measurements
            study = StudyFolder(folder, read_study_yaml(folder / STUDY_FILE), pd.DataFrame(columns=MEASUREMENT_COLUMNS))
        else:
            study = load_study(folder)
    except ExtractionReadError as error:
        return [], [], [Issue(folder.name, str(error.file), None, "", "", "", error.rule, error.message)]
    try:
        patient_only = patients_file.exists() and study.measurements.empty
        issues = validate_study_meta(study) if patient_only else validate_study(study, registry)
        if patients_file.exists() and not issues:
            arm_ids = {a["id"] for a in study.meta.get("arms") or []}
            try:
                frame = patients.read_patients(patients_file)
            except ExtractionReadError as error:
                return [], [], issues + [Issue(folder.name, str(error.file), None, "", "", "", error.rule, error.message)]
            issues += patients.validate_patients(frame, patients_file, study.study_id, registry, arm_ids)
        if any(i.severity == "error" for i in issues):
            return [], [], issues
        records = [] if patient_only else harmonize_study(study, registry, collection)
        if patients_file.exists():
            scored = patients.score_patients(frame, registry)
            records += patients.summarize(scored, study.study_id, study.meta, registry, collection)
        if lineage is not None:
            lineage += record_lineage(study, records)
        return records, characteristics(study.meta, study.study_id, collection), issues
    except Exception as error:  # a bug must not take the other studies down with it
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return [], [], [Issue(folder.name, str(folder), None, "", "", "", "internal error",
                              f"the pipeline failed on this study ({detail}); please report it")]


def build_shard(folders: list[Path], collections: list[str], registry_path: Path, out_dir: Path) -> None:
    registry = load_registry(registry_path)
    records, chars, issues, lineage = [], [], [], []
    for folder, collection in zip(folders, collections):
        r, c, i = process_study(folder, collection, registry, lineage)
        records += r
        chars += c
        issues += [dict(x.to_dict(), issue_id=record_id(*(str(v) for v in x.to_dict().values()))) for x in i]
    write_table(to_table(records, HARMONIZED), out_dir / "harmonized.parquet")
    write_table(to_table(chars, CHARACTERISTICS), out_dir / "characteristics.parquet")
    write_table(to_table(issues, ISSUES), out_dir / "issues.parquet")
    write_table(to_table(lineage, LINEAGE), out_dir / "lineage.parquet")


def _concat(paths: list[Path]) -> pd.DataFrame:
    frames = [read_table(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def merge_shards(shard_dirs: list[Path], outputs: dict[str, Path], metadata: dict[str, str] | None = None) -> None:
    """Concatenate shard tables, sorted so the result does not depend on the shard count.

    ``metadata`` (the run manifest) is embedded in every Parquet file written.
    """
    harmonized = _concat([d / "harmonized.parquet" for d in shard_dirs])
    lineage = _concat([d / "lineage.parquet" for d in shard_dirs])
    chars = _concat([d / "characteristics.parquet" for d in shard_dirs])
    issues = _concat([d / "issues.parquet" for d in shard_dirs])
    issues = _duplicate_id_issues(chars, harmonized, issues)
    rejected = set(issues.loc[issues["severity"] == "error", "study"]) if not issues.empty else set()
    if rejected:
        harmonized = harmonized[~harmonized["study_id"].isin(rejected)] if not harmonized.empty else harmonized
        chars = chars[~chars["study_id"].isin(rejected)] if not chars.empty else chars
        lineage = lineage[~lineage["study_id"].isin(rejected)] if not lineage.empty else lineage
    sort = {"harmonized": ["study_id", "arm_id", "outcome", "timepoint_days", "timepoint_text"],
            "characteristics": ["study_id", "arm_id"], "issues": ["study", "file", "row", "rule", "column"],
            "lineage": ["output_id", "input_id"]}
    tables = {"harmonized": (harmonized, HARMONIZED), "characteristics": (chars, CHARACTERISTICS), "issues": (issues, ISSUES),
              "lineage": (lineage, LINEAGE)}
    for name, (frame, schema) in tables.items():
        if not frame.empty:
            frame = frame.sort_values(sort[name], kind="stable", na_position="last").reset_index(drop=True)
        write_table(to_table(frame, schema), outputs[name], metadata)
    summary = validation_summary(issues)
    from livertrials.io.atomic import write_text
    write_text(outputs["summary"], json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_text(outputs["report"], validation_text(issues))


def _duplicate_id_issues(chars: pd.DataFrame, harmonized: pd.DataFrame, issues: pd.DataFrame) -> pd.DataFrame:
    """Two folders (e.g. in studies/ and comparators/, or differing only in case) with one id."""
    if chars.empty:
        return issues
    seen = chars.drop_duplicates(["study_id", "collection"])
    folded = seen.assign(key=seen["study_id"].str.casefold())
    duplicated = folded[folded.duplicated("key", keep=False)]
    extra = [Issue(row.study_id, row.collection, None, "", "id", row.study_id, "unique study id",
                   "another study folder has the same id (ids must be unique, ignoring case)").to_dict()
             | {"issue_id": record_id(row.study_id, row.collection, "unique study id")}
             for row in duplicated.itertuples()]
    return pd.concat([issues, pd.DataFrame(extra)], ignore_index=True) if extra else issues


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
    from livertrials.io.atomic import write_text

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
