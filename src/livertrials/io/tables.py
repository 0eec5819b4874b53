"""Explicit Arrow schemas of every Parquet output, with units and meanings in field metadata."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from livertrials.io.atomic import atomic_path


def field(name: str, type_: pa.DataType, description: str, unit: str = "") -> pa.Field:
    meta = {"description": description}
    if unit:
        meta["unit"] = unit
    return pa.field(name, type_, metadata=meta)


ROW_UNIT = "the row's `unit` column (the outcome's canonical unit from resources/registry/outcomes.yaml)"

HARMONIZED = pa.schema([
    field("record_id", pa.string(), "stable id of this harmonized record"),
    field("study_id", pa.string(), "study folder name"),
    field("collection", pa.string(), "studies (pooled) or comparators (published meta-analyses, never pooled)"),
    field("arm_id", pa.string(), "arm or contrast id from study.yaml"),
    field("arm_label", pa.string(), "arm label as printed"),
    field("arm_role", pa.string(), "intervention, control, active_comparator, all, or contrast"),
    field("is_contrast", pa.bool_(), "true if the record is a between-group effect"),
    field("intervention", pa.string(), "what the arm received: id from the intervention registry (null for a contrast)"),
    field("intervention_label", pa.string(), "label of the intervention in the registry"),
    field("intervention_class", pa.string(), "class id of the intervention (cell_therapy, mobilisation, control, ...)"),
    field("contrast_arms_1", pa.list_(pa.string()), "contrast records: arm ids of its experimental side (study.yaml "
          "contrast 'intervention')"),
    field("contrast_arms_2", pa.list_(pa.string()), "contrast records: arm ids of its comparator side (contrast "
          "'control'; empty if none is named)"),
    field("outcome", pa.string(), "registry outcome id"),
    field("outcome_label", pa.string(), "outcome name for people"),
    field("outcome_as_printed", pa.list_(pa.string()), "outcome names used in the extraction rows"),
    field("kind", pa.string(), "continuous, events, effect, duration or descriptive"),
    field("quantity", pa.string(), "level, change (from baseline), relative_change, difference or ratio"),
    field("timepoint_text", pa.string(), "timepoint as printed"),
    field("timepoint_kind", pa.string(), "point, range, not_stated or schedule"),
    field("timepoint_days", pa.float64(), "days since first treatment (end of a range); months = 30.4375 d", "days"),
    field("timepoint_start_days", pa.float64(), "start of a timepoint range", "days"),
    field("unit", pa.string(), "unit of every value in this row"),
    field("unit_printed", pa.string(), "unit as printed (or presumed, see flags)"),
    field("unit_factor", pa.float64(), "factor applied: value = printed value x factor"),
    field("n", pa.int64(), "arm size used as n / denominator (analysed, else randomized)", "patients"),
    field("mean", pa.float64(), "mean (or single value)", ROW_UNIT),
    field("sd", pa.float64(), "standard deviation", ROW_UNIT),
    field("median", pa.float64(), "median", ROW_UNIT),
    field("q1", pa.float64(), "first quartile", ROW_UNIT),
    field("q3", pa.float64(), "third quartile", ROW_UNIT),
    field("minimum", pa.float64(), "minimum", ROW_UNIT),
    field("maximum", pa.float64(), "maximum", ROW_UNIT),
    field("events", pa.float64(), "patients with the event (rounded when derived from a percentage)", "patients"),
    field("events_exact", pa.float64(), "percentage x n / 100 before rounding", "patients"),
    field("total", pa.int64(), "denominator of events", "patients"),
    field("effect_measure", pa.string(), "MD, WMD, OR, RR or HR for contrast records"),
    field("estimate", pa.float64(), "effect estimate (ratio scale for OR/RR/HR)", ROW_UNIT),
    field("ci_lower", pa.float64(), "lower 95% confidence limit", ROW_UNIT),
    field("ci_upper", pa.float64(), "upper 95% confidence limit", ROW_UNIT),
    field("p_value", pa.string(), "p value as printed"),
    field("t_statistic", pa.float64(), "t statistic as printed"),
    field("meld_variant", pa.string(), "MELD variant the study reports (MELD outcomes only)"),
    field("method", pa.string(), "how the values were derived from the printed numbers"),
    field("source_row_ids", pa.list_(pa.string()), "row_id of every printed number used"),
    field("flags", pa.list_(pa.string()), "caveats carried downstream (see resources/README.md)"),
])

CHARACTERISTICS = pa.schema([
    field("characteristic_id", pa.string(), "stable id of this study x arm row"),
    field("study_id", pa.string(), "study folder name"),
    field("collection", pa.string(), "studies or comparators"),
    field("kind", pa.string(), "trial, cohort, case_series, meta_analysis, trial_listing"),
    field("citation", pa.string(), "citation"),
    field("doi_or_pmid", pa.string(), "DOI or PMID"),
    field("design", pa.string(), "design as described by the source"),
    field("randomized", pa.bool_(), "randomized as stated (null: not stated)"),
    field("condition", pa.string(), "decompensated cirrhosis, ACLF, ..."),
    field("population", pa.string(), "population as described"),
    field("etiology", pa.string(), "etiology"),
    field("country", pa.string(), "country"),
    field("meld_variant", pa.string(), "MELD variant reported"),
    field("arm_id", pa.string(), "arm id"),
    field("arm_label", pa.string(), "arm label as printed"),
    field("arm_role", pa.string(), "intervention, control, active_comparator or all"),
    field("intervention", pa.string(), "what the arm received: id from the intervention registry"),
    field("intervention_label", pa.string(), "label of the intervention in the registry"),
    field("intervention_class", pa.string(), "class id of the intervention (cell_therapy, mobilisation, control, ...)"),
    field("n_randomized", pa.int64(), "patients randomized or allocated", "patients"),
    field("n_analysed", pa.int64(), "patients analysed", "patients"),
    field("cell_source", pa.string(), "bone marrow, umbilical cord, ..."),
    field("cell_type", pa.string(), "MSC, MNC, CD34+, CD133+, ..."),
    field("origin", pa.string(), "autologous or allogeneic"),
    field("route", pa.string(), "route of delivery"),
    field("dose", pa.string(), "dose as printed"),
    field("infusions", pa.int64(), "number of infusions"),
    field("co_intervention", pa.string(), "co-intervention"),
    field("study_flags", pa.list_(pa.string()), "study-level flags: code: detail"),
])

ISSUES = pa.schema([
    field("issue_id", pa.string(), "stable id of this validation issue"),
    field("study", pa.string(), "study folder name"),
    field("file", pa.string(), "file with the problem"),
    field("row", pa.int64(), "line in the file (1 = header); null for the whole file"),
    field("row_id", pa.string(), "row_id of the offending row"),
    field("column", pa.string(), "column or key"),
    field("value", pa.string(), "offending value as written"),
    field("rule", pa.string(), "the rule that was broken"),
    field("message", pa.string(), "what is wrong, in words"),
    field("severity", pa.string(), "error (study excluded) or warning (kept, flagged)"),
])


def to_table(records: list[dict] | pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The rows as an Arrow table of ``schema`` (nulls for NaN and None), with the pandas metadata
    ``Table.from_pandas`` writes. Converted a column at a time: the whole table as Python objects at once took
    1.7 GB more than the table itself at 10,000 studies (1.3 million comparison rows)."""
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(records, columns=schema.names)
    frame = frame.reindex(columns=schema.names)
    arrays = []
    for field in schema:
        column = frame[field.name].astype(object)
        arrays.append(pa.array(column.where(column.notna(), None), type=field.type, from_pandas=True))
    head = frame.iloc[:0].astype(object)   # the pandas metadata depends on the columns and types, not the rows
    metadata = pa.Table.from_pandas(head, schema=schema, preserve_index=False).schema.metadata
    return pa.Table.from_arrays(arrays, schema=schema).replace_schema_metadata(metadata)


def write_table(table: pa.Table, path, metadata: dict[str, str] | None = None) -> None:
    """Write Parquet atomically; ``metadata`` is added as key-value file metadata."""
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_batches(tables, path, schema: pa.Schema, metadata: dict[str, str] | None = None) -> int:
    """Write Parquet atomically from an iterable of tables of ``schema`` (each one or more row groups), so a
    table too large to hold whole (the lineage of 10,000 studies) is written as it is made; returns the rows."""
    merged = dict(schema.metadata or {})
    merged.update({k.encode(): v.encode() for k, v in (metadata or {}).items()})
    schema = schema.with_metadata(merged)
    written = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table.replace_schema_metadata(merged))
            written += table.num_rows
    return written


def row_dicts(frame: pd.DataFrame) -> list[dict]:
    """frame.to_dict("records"), the same values built column by column: several times faster on Arrow-backed
    string columns (every column of an extraction table), and the pipeline converts tables of thousands of rows
    per study and of a million rows per corpus."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def read_table(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def table_bytes(table: pa.Table) -> bytes:
    """``table`` as a zstd-compressed Arrow IPC stream (``table_from_bytes`` reads it back, schema and metadata
    included): for cache entries of lineage edges, whose repeated texts shrink about tenfold, so a warm build
    reads a tenth of the bytes a pickled table takes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_bytes(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()
