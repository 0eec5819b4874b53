"""Build steps called by the Snakemake rules: process a shard of studies (process_study each), merge shards.

Studies are processed in shards (a stable hash of the study id picks the shard) so
that one process validates and harmonizes many studies: a per-study Snakemake job
would pay a fresh interpreter per study and miss the speed targets. Failure isolation
stays per study: a study that fails validation (or trips a bug) is recorded with its
errors and excluded, and every other study in the shard still builds. The final
``check_validation`` step fails the run if any study was excluded, after everything
else has been built (validate.summary), so a bad extraction is never silently dropped.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

from livertrials.harmonize.characteristics import risk_of_bias
from livertrials.harmonize.fields import record_id
from livertrials.harmonize.study import process_study
from livertrials.io.atomic import write_text
from livertrials.io.cache import ContentCache
from livertrials.io.extraction import FILE_SIZE_LIMIT, STUDY_FILE, read_study_yaml
from livertrials.io.registry import load_registry, registry_files
from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, ISSUES, read_table, to_table, write_table
from livertrials.lineage.records import LINEAGE
from livertrials.lineage.run_info import package_source_digest, sha256
from livertrials.validate.double_extraction import disagreement_issues
from livertrials.validate.issues import Issue, unexpected_error
from livertrials.validate.risk_of_bias import RISK_OF_BIAS_TABLE
from livertrials.validate.summary import validation_summary, validation_text

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


class StudyOutput(NamedTuple):
    folder: Path
    records: list[dict]
    characteristics: list[dict]
    issues: list[Issue]
    lineage: list[dict]
    risk_of_bias: list[dict] = []


def build_shard(folders: list[Path], collections: list[str], registry_path: Path, out_dir: Path,
                cache_dir: str | None = None) -> None:
    """Validate and harmonize each study folder and write the shard's tables. With ``cache_dir`` (config cache_dir)
    a study whose files, registry and code are unchanged since an earlier run is not processed again: after a
    one-study edit the shard redoes one study (docs/cache.md)."""
    registry = load_registry(registry_path)
    # one namespace per shard: shards run in parallel, and each prunes only its own entries
    cache = ContentCache(cache_dir or None, f"studies/{Path(out_dir).name}", package_source_digest() if cache_dir else "")
    registry_digest = [sha256(path) for path in registry_files(registry_path)] if cache.enabled else []
    studies = []
    for folder, collection in zip(folders, collections):
        key = _study_key(cache, folder, collection, registry_digest)
        studies.append(cache.fetch(key, _study_output, folder, collection, registry) if key
                       else _study_output(folder, collection, registry))
    for name, table in shard_tables(studies).items():
        write_table(table, out_dir / f"{name}.parquet")
    cache.prune()
    print(cache.summary())


def _study_output(folder: Path, collection: str, registry) -> StudyOutput:
    lineage: list[dict] = []
    records, chars, issues = process_study(folder, collection, registry, lineage)
    return with_risk_of_bias(StudyOutput(folder, records, chars, issues, lineage), collection)


def _study_key(cache: ContentCache, folder: Path, collection: str, registry_digest: list[str]) -> str | None:
    """The cache key of one study: its folder path and collection, the registry, and every entry of the folder
    (name, kind, link target, content). None (no caching) if the cache is off or the folder holds anything
    unusual (a file over the size limit, something unreadable): such a study is always processed afresh."""
    if not cache.enabled:
        return None
    try:
        entries = []
        for path in sorted(Path(folder).rglob("*")):
            link = os.readlink(path) if path.is_symlink() else None
            if path.is_file():
                if path.stat().st_size > FILE_SIZE_LIMIT:
                    return None
                entries.append([path.relative_to(folder).as_posix(), link, sha256(path)])
            else:
                entries.append([path.relative_to(folder).as_posix(), link, "dir" if path.is_dir() else "other"])
    except OSError:
        return None
    return cache.key(str(folder), collection, registry_digest, entries)


def with_risk_of_bias(study: StudyOutput, collection: str) -> StudyOutput:
    """The study's risk-of-bias rows, read from its study.yaml once it has passed validation (the checks of
    validate.risk_of_bias ran there); a study with errors gets none, and a failure here excludes this study only."""
    if any(i.severity == "error" for i in study.issues):
        return study
    file = study.folder / STUDY_FILE
    try:
        rows = risk_of_bias(read_study_yaml(file), study.folder.name, collection)
    except Exception as error:  # noqa: BLE001 - one study's failure must not take the shard down
        failure = unexpected_error(study.folder.name, file, "reading its risk of bias", error)
        return study._replace(issues=[*study.issues, failure])
    return study._replace(risk_of_bias=rows)


SHARD_SCHEMAS = {"harmonized": HARMONIZED, "characteristics": CHARACTERISTICS, "issues": ISSUES, "lineage": LINEAGE,
                 "risk_of_bias": RISK_OF_BIAS_TABLE}


def shard_tables(studies: list[StudyOutput]) -> dict[str, pa.Table]:
    """The shard's tables, one per SHARD_SCHEMAS entry.

    A value that does not fit its column (e.g. an arm size too large for int64, had validation not
    stopped it) fails the whole conversion; then each study is converted alone to find the ones that
    fail, which are excluded with an error Issue, and the others are converted again. Converting
    everything at once first keeps the common case as fast, and its files as they were."""
    try:
        return _tables(studies)
    except Exception:  # noqa: BLE001 - which study, and why, is found below
        pass
    kept = []
    for study in studies:
        try:
            _tables([study])
            kept.append(study)
        except Exception as error:  # noqa: BLE001
            failure = unexpected_error(study.folder.name, study.folder, "writing its rows to the harmonized tables", error)
            kept.append(StudyOutput(study.folder, [], [], [failure], []))  # its issues may be what failed
    return _tables(kept)


def _tables(studies: list[StudyOutput]) -> dict[str, pa.Table]:
    rows = {
        "harmonized": [r for s in studies for r in s.records],
        "characteristics": [c for s in studies for c in s.characteristics],
        "issues": [dict(i.to_dict(), issue_id=record_id(*(str(v) for v in i.to_dict().values())))
                   for s in studies for i in s.issues],
        "lineage": [e for s in studies for e in s.lineage],
        "risk_of_bias": [r for s in studies for r in s.risk_of_bias],
    }
    return {name: to_table(rows[name], schema) for name, schema in SHARD_SCHEMAS.items()}


def _concat(paths: list[Path]) -> pd.DataFrame:
    frames = [read_table(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def merge_shards(shard_dirs: list[Path], outputs: dict[str, Path], metadata: dict[str, str] | None = None,
                 double_extraction: list[Path] = ()) -> None:
    """Concatenate shard tables, sorted so the result does not depend on the shard count.

    ``metadata`` (the run manifest) is embedded in every Parquet file written. Each disagreement in the
    ``double_extraction`` tables (given when exclude_unresolved_double_extraction is true) is an error
    that excludes its study. The risk-of-bias table is written when ``outputs`` names it ("risk_of_bias").
    """
    harmonized = _concat([d / "harmonized.parquet" for d in shard_dirs])
    lineage = _concat([d / "lineage.parquet" for d in shard_dirs])
    chars = _concat([d / "characteristics.parquet" for d in shard_dirs])
    issues = _concat([d / "issues.parquet" for d in shard_dirs])
    rob = _concat([d / "risk_of_bias.parquet" for d in shard_dirs]) if "risk_of_bias" in outputs else pd.DataFrame()
    issues = _duplicate_id_issues(chars, harmonized, issues)
    unresolved = [dict(i.to_dict(), issue_id=record_id(*(str(v) for v in i.to_dict().values())))
                  for path in double_extraction for i in disagreement_issues(read_table(path))]
    issues = pd.concat([issues, pd.DataFrame(unresolved)], ignore_index=True) if unresolved else issues
    rejected = set(issues.loc[issues["severity"] == "error", "study"]) if not issues.empty else set()
    if rejected:
        harmonized = harmonized[~harmonized["study_id"].isin(rejected)] if not harmonized.empty else harmonized
        chars = chars[~chars["study_id"].isin(rejected)] if not chars.empty else chars
        lineage = lineage[~lineage["study_id"].isin(rejected)] if not lineage.empty else lineage
        rob = rob[~rob["study_id"].isin(rejected)] if not rob.empty else rob
    # risk of bias: by study only (stable), so each study's domains stay in the tool's order
    sort = {"harmonized": ["study_id", "arm_id", "outcome", "timepoint_days", "timepoint_text"],
            "characteristics": ["study_id", "arm_id"], "issues": ["study", "file", "row", "rule", "column"],
            "lineage": ["output_id", "input_id"], "risk_of_bias": ["study_id"]}
    tables = {"harmonized": (harmonized, HARMONIZED), "characteristics": (chars, CHARACTERISTICS), "issues": (issues, ISSUES),
              "lineage": (lineage, LINEAGE)}
    if "risk_of_bias" in outputs:
        tables["risk_of_bias"] = (rob, RISK_OF_BIAS_TABLE)
    for name, (frame, schema) in tables.items():
        if not frame.empty:
            frame = frame.sort_values(sort[name], kind="stable", na_position="last").reset_index(drop=True)
        write_table(to_table(frame, schema), outputs[name], metadata)
    summary = validation_summary(issues)
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
