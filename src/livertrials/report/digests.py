"""Cheap content digests of the report's Parquet inputs, for cache keys that stay put after an edit elsewhere.

Every results table is rewritten by every run with a new run manifest in its metadata, so the file's digest changes
although its rows do not. ``parquet_digest`` digests only the stored bytes of some columns (their pages as written,
dictionary included, every row group) with their types: the same bytes decode to the same values, so an equal
digest means equal columns, read in a few milliseconds without decoding. (A writer that stored equal values
differently would only cost a recompute.) ``rows_digest`` digests decoded rows, for the few a result reads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from livertrials.io.cache import content_key


def parquet_digest(path: Path, columns: list[str] | None = None) -> str:
    """SHA-256 of ``columns`` (default all) of a Parquet file as stored; a column the file lacks counts as absent."""
    handle = pq.ParquetFile(path)
    meta, schema = handle.metadata, handle.schema_arrow
    wanted = set(schema.names if columns is None else columns)
    digest = hashlib.sha256()
    digest.update(repr([(f.name, str(f.type), f.nullable) for f in schema if f.name in wanted]).encode())
    digest.update(repr(sorted(wanted)).encode())
    digest.update((schema.metadata or {}).get(b"pandas", b""))   # how to_pandas() makes the columns
    with open(path, "rb") as raw:
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            digest.update(f"rows {row_group.num_rows}".encode())
            for i in range(row_group.num_columns):
                chunk = row_group.column(i)
                if chunk.path_in_schema.split(".")[0] not in wanted:
                    continue
                start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
                digest.update(f"{chunk.path_in_schema} {chunk.physical_type} {chunk.compression}".encode())
                raw.seek(start)
                digest.update(raw.read(chunk.total_compressed_size))
    return digest.hexdigest()


def rows_digest(table: pa.Table) -> str:
    """SHA-256 of a (small) table's column names and values, in order."""
    return content_key(table.column_names, [table.column(name).to_pylist() for name in table.column_names])
