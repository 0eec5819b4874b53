"""Explicit Arrow schemas of every Parquet output, with units and meanings in field metadata."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from livertrials.io.atomic import atomic_path


def _field(name: str, type_: pa.DataType, description: str, unit: str = "") -> pa.Field:
    meta = {"description": description}
    if unit:
        meta["unit"] = unit
    return pa.field(name, type_, metadata=meta)


ROW_UNIT = "the row's `unit` column (the outcome's canonical unit from resources/registry/outcomes.yaml)"

HARMONIZED = pa.schema([
    _field("record_id", pa.string(), "stable id of this harmonized record"),
    _field("study_id", pa.string(), "study folder name"),
    _field("collection", pa.string(), "studies (pooled) or comparators (published meta-analyses, never pooled)"),
    _field("arm_id", pa.string(), "arm or contrast id from study.yaml"),
    _field("arm_label", pa.string(), "arm label as printed"),
    _field("arm_role", pa.string(), "intervention, control, active_comparator, all, or contrast"),
    _field("is_contrast", pa.bool_(), "true if the record is a between-group effect"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("outcome_as_printed", pa.list_(pa.string()), "outcome names used in the extraction rows"),
    _field("kind", pa.string(), "continuous, events, effect, duration or descriptive"),
    _field("quantity", pa.string(), "level, change (from baseline), relative_change, difference or ratio"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_kind", pa.string(), "point, range, not_stated or schedule"),
    _field("timepoint_days", pa.float64(), "days since first treatment (end of a range); months = 30.4375 d", "days"),
    _field("timepoint_start_days", pa.float64(), "start of a timepoint range", "days"),
    _field("unit", pa.string(), "unit of every value in this row"),
    _field("unit_printed", pa.string(), "unit as printed (or presumed, see flags)"),
    _field("unit_factor", pa.float64(), "factor applied: value = printed value x factor"),
    _field("n", pa.int64(), "arm size used as n / denominator (analysed, else randomized)", "patients"),
    _field("mean", pa.float64(), "mean (or single value)", ROW_UNIT),
    _field("sd", pa.float64(), "standard deviation", ROW_UNIT),
    _field("median", pa.float64(), "median", ROW_UNIT),
    _field("q1", pa.float64(), "first quartile", ROW_UNIT),
    _field("q3", pa.float64(), "third quartile", ROW_UNIT),
    _field("minimum", pa.float64(), "minimum", ROW_UNIT),
    _field("maximum", pa.float64(), "maximum", ROW_UNIT),
    _field("events", pa.float64(), "patients with the event (rounded when derived from a percentage)", "patients"),
    _field("events_exact", pa.float64(), "percentage x n / 100 before rounding", "patients"),
    _field("total", pa.int64(), "denominator of events", "patients"),
    _field("effect_measure", pa.string(), "MD, WMD, OR, RR or HR for contrast records"),
    _field("estimate", pa.float64(), "effect estimate (ratio scale for OR/RR/HR)", ROW_UNIT),
    _field("ci_lower", pa.float64(), "lower 95% confidence limit", ROW_UNIT),
    _field("ci_upper", pa.float64(), "upper 95% confidence limit", ROW_UNIT),
    _field("p_value", pa.string(), "p value as printed"),
    _field("t_statistic", pa.float64(), "t statistic as printed"),
    _field("meld_variant", pa.string(), "MELD variant the study reports (MELD outcomes only)"),
    _field("method", pa.string(), "how the values were derived from the printed numbers"),
    _field("source_row_ids", pa.list_(pa.string()), "row_id of every printed number used"),
    _field("flags", pa.list_(pa.string()), "caveats carried downstream (see resources/README.md)"),
])

CHARACTERISTICS = pa.schema([
    _field("characteristic_id", pa.string(), "stable id of this study x arm row"),
    _field("study_id", pa.string(), "study folder name"),
    _field("collection", pa.string(), "studies or comparators"),
    _field("kind", pa.string(), "trial, cohort, case_series, meta_analysis, trial_listing"),
    _field("citation", pa.string(), "citation"),
    _field("doi_or_pmid", pa.string(), "DOI or PMID"),
    _field("design", pa.string(), "design as described by the source"),
    _field("randomized", pa.bool_(), "randomized as stated (null: not stated)"),
    _field("condition", pa.string(), "decompensated cirrhosis, ACLF, ..."),
    _field("population", pa.string(), "population as described"),
    _field("etiology", pa.string(), "etiology"),
    _field("country", pa.string(), "country"),
    _field("meld_variant", pa.string(), "MELD variant reported"),
    _field("arm_id", pa.string(), "arm id"),
    _field("arm_label", pa.string(), "arm label as printed"),
    _field("arm_role", pa.string(), "intervention, control, active_comparator or all"),
    _field("n_randomized", pa.int64(), "patients randomized or allocated", "patients"),
    _field("n_analysed", pa.int64(), "patients analysed", "patients"),
    _field("cell_source", pa.string(), "bone marrow, umbilical cord, ..."),
    _field("cell_type", pa.string(), "MSC, MNC, CD34+, CD133+, ..."),
    _field("origin", pa.string(), "autologous or allogeneic"),
    _field("route", pa.string(), "route of delivery"),
    _field("dose", pa.string(), "dose as printed"),
    _field("infusions", pa.int64(), "number of infusions"),
    _field("co_intervention", pa.string(), "co-intervention"),
    _field("study_flags", pa.list_(pa.string()), "study-level flags: code: detail"),
])

ISSUES = pa.schema([
    _field("issue_id", pa.string(), "stable id of this validation issue"),
    _field("study", pa.string(), "study folder name"),
    _field("file", pa.string(), "file with the problem"),
    _field("row", pa.int64(), "line in the file (1 = header); null for the whole file"),
    _field("row_id", pa.string(), "row_id of the offending row"),
    _field("column", pa.string(), "column or key"),
    _field("value", pa.string(), "offending value as written"),
    _field("rule", pa.string(), "the rule that was broken"),
    _field("message", pa.string(), "what is wrong, in words"),
    _field("severity", pa.string(), "error (study excluded) or warning (kept, flagged)"),
])


def to_table(records: list[dict] | pd.DataFrame, schema: pa.Schema) -> pa.Table:
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(records, columns=schema.names)
    frame = frame.reindex(columns=schema.names)
    frame = frame.astype(object).where(frame.notna(), None)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def write_table(table: pa.Table, path, metadata: dict[str, str] | None = None) -> None:
    """Write Parquet atomically; ``metadata`` is added as key-value file metadata."""
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_table(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()
