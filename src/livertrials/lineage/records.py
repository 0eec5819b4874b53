"""Row-level lineage records: the LINEAGE Arrow schema and the edges every stage writes.

Lineage is a table of edges ``output_id <- input_id`` with the step and transformation that produced the
output; the leaves are extraction rows (study, file, line, row_id, quote, source). Harmonization and
synthesis write their halves with this schema; provenance combines them (see docs/provenance.md).
"""

from __future__ import annotations

import json

import pyarrow as pa

from livertrials.io.tables import field as _field
from livertrials.io.tables import row_dicts

LINEAGE = pa.schema([
    _field("output_id", pa.string(), "id of the derived row (harmonized record, comparison, pooled estimate)"),
    _field("output_table", pa.string(), "table holding the output row (harmonized/outcomes, synthesis/comparisons, "
           "synthesis/pooled, synthesis/windows, synthesis/comparators)"),
    _field("input_id", pa.string(), "id of a row it was made from (extraction row_id, record_id, comparison_id, pooled_id)"),
    _field("input_kind", pa.string(), "extraction_row, patient_row, harmonized_record, comparison, pooled_estimate"),
    _field("step", pa.string(), "harmonize, score, compare (arms combined, effect computed), pool (window, method, weight), "
           "exclude (a comparison of the same pool left out, and why), window, publish, match"),
    _field("transformation", pa.string(), "what was done: method, unit factor, conversion, arm combination, effect formula, "
           "window assignment, pooling method and weight, or the reason for an exclusion"),
    _field("study_id", pa.string(), "study folder"),
    _field("file", pa.string(), "extraction file of an extraction-row input"),
    _field("line", pa.int64(), "line of the extraction row in its file (1 = header)"),
    _field("statistic", pa.string(), "statistic of the printed number"),
    _field("value", pa.string(), "printed value"),
    _field("unit", pa.string(), "printed unit"),
    _field("quote", pa.string(), "verbatim source sentence"),
    _field("source", pa.string(), "source URL or document"),
    _field("location", pa.string(), "where in the source"),
])


def record_lineage(study, records: list[dict]) -> list[dict]:
    """Edges from each harmonized record to the extraction (or patient) rows it used."""
    rows = {}
    if not study.measurements.empty and "row_id" in study.measurements:
        for index, row in zip(study.measurements.index, row_dicts(study.measurements)):
            rows[row["row_id"]] = (index + 2, row)
    measurements_file = str(study.folder / "measurements.csv")
    edges = []
    for record in records:
        transformation = record["method"]
        if record.get("unit_factor") not in (None, 1, 1.0):
            transformation += f"; unit {record['unit_printed']} x {record['unit_factor']:g} -> {record['unit']}"
        for source_id in record["source_row_ids"]:
            edge = {"output_id": record["record_id"], "output_table": "harmonized/outcomes", "input_id": source_id,
                    "step": "harmonize", "transformation": transformation, "study_id": record["study_id"]}
            if source_id.startswith("patients.csv:"):
                edge.update(input_kind="patient_row", file=str(study.folder / "patients.csv"), line=int(source_id.split(":")[1]),
                            step="score")
            elif source_id in rows:
                line, row = rows[source_id]
                edge.update(input_kind="extraction_row", file=measurements_file, line=line, statistic=row["statistic"],
                            value=row["value"], unit=row["unit"] or row.get("unit_presumed", ""), quote=row["quote"],
                            source=row["source"], location=row.get("location", ""))
            edges.append(edge)
    return edges


def lineage_pandas_metadata() -> bytes:
    """pandas metadata for lineage files: strings, and "line" as nullable Int64 (synthesis edges have no line;
    a plain read_parquet would otherwise turn the extraction rows' line numbers into floats, "line 4.0")."""
    import pandas as pd

    frame = pd.DataFrame({f.name: pd.Series(dtype="Int64" if f.name == "line" else "object") for f in LINEAGE})
    meta = json.loads(pa.Schema.from_pandas(frame, preserve_index=False).metadata[b"pandas"])
    for column in meta["columns"]:
        if column["name"] != "line":
            column["pandas_type"] = "unicode"
    return json.dumps(meta).encode()


def lineage_table(edges: list[dict]) -> pa.Table:
    """LINEAGE table of edge dicts (missing keys are null); built column by column, as a lineage can have
    millions of edges (leave-one-out rows of a large pool)."""
    return lineage_columns_table(lineage_columns(edges))


def lineage_columns(edges: list[dict]) -> dict[str, list]:
    """The edges as one list per LINEAGE column (missing keys are None): a compact form to keep or join before
    the table is made (an Arrow table per small part costs more than its edges)."""
    return {f.name: [e.get(f.name) for e in edges] for f in LINEAGE}


def lineage_columns_table(columns: dict[str, list]) -> pa.Table:
    table = pa.Table.from_pydict(columns, schema=LINEAGE)
    return table.replace_schema_metadata({**(LINEAGE.metadata or {}), b"pandas": lineage_pandas_metadata()})
