"""Cheap content digests of the report's Parquet inputs, for cache keys that stay put after an edit elsewhere.

Every results table is rewritten by every run with a new run manifest in its metadata, so the file's digest changes
although its rows do not. ``parquet_digest`` digests only the stored bytes of some columns (their pages as written,
dictionary included, every row group) with their types: the same bytes decode to the same values, so an equal
digest means equal columns, read in a few milliseconds without decoding. (A writer that stored equal values
differently would only cost a recompute.) ``rows_digest`` digests some rows' values; it decodes a column chunk
only when its stored bytes are not in the memo the caller keeps from an earlier build (a one-study edit changes a
few chunks of the lineage).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from livertrials.io.cache import content_key


def _chunks(handle: pq.ParquetFile, group: int, column: str):
    """The column chunks of ``column`` (one, or one per leaf of a nested column) in a row group."""
    row_group = handle.metadata.row_group(group)
    for i in range(row_group.num_columns):
        chunk = row_group.column(i)
        if chunk.path_in_schema == column or chunk.path_in_schema.startswith(column + "."):
            yield chunk


def _stored(raw, chunk, digest) -> None:
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    digest.update(f"{chunk.path_in_schema} {chunk.physical_type} {chunk.compression}".encode())
    raw.seek(start)
    digest.update(raw.read(chunk.total_compressed_size))


def parquet_digest(path: Path, columns: list[str] | None = None) -> str:
    """SHA-256 of ``columns`` (default all) of a Parquet file as stored; a column the file lacks counts as absent."""
    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    wanted = [name for name in schema.names if columns is None or name in columns]
    digest = hashlib.sha256()
    digest.update(repr([(f.name, str(f.type), f.nullable) for f in schema if f.name in wanted]).encode())
    digest.update(repr(sorted(columns or [])).encode())
    digest.update((schema.metadata or {}).get(b"pandas", b""))   # how to_pandas() makes the columns
    with open(path, "rb") as raw:
        for group in range(handle.metadata.num_row_groups):
            digest.update(f"rows {handle.metadata.row_group(group).num_rows}".encode())
            for name in wanted:
                for chunk in _chunks(handle, group, name):
                    _stored(raw, chunk, digest)
    return digest.hexdigest()


def rows_digest(path: Path, rows: np.ndarray, columns: list[str], known: dict, used: dict) -> str:
    """SHA-256 of the values of ``columns`` (those the file has) in the rows at positions ``rows`` (ascending) of a
    Parquet file. ``known`` (kept by the caller from an earlier build) maps a column chunk's stored bytes and the
    rows taken from it to their values' digest, so only chunks stored differently are decoded; every entry this
    digest used is put in ``used`` (the caller's next ``known``)."""
    handle = pq.ParquetFile(path)
    schema, meta = handle.schema_arrow, handle.metadata
    starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
    group_of = np.searchsorted(starts, rows, side="right") - 1
    present = [(name, str(schema.field(name).type)) for name in columns if name in schema.names]
    parts: list = [present]
    with open(path, "rb") as raw:
        for group in np.unique(group_of).tolist():
            local = (rows[group_of == group] - starts[group]).astype(np.int64)
            taken = hashlib.sha256(local.tobytes()).hexdigest()
            for name, kind in present:
                digest = hashlib.sha256(kind.encode())
                for chunk in _chunks(handle, group, name):
                    _stored(raw, chunk, digest)
                key = (digest.hexdigest(), taken)
                if key not in known:
                    column = handle.read_row_group(group, columns=[name]).column(0)
                    known[key] = content_key(column.take(pa.array(local)).to_pylist())
                used[key] = known[key]
                parts.append([group, name, known[key]])
    return content_key(hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest(), parts)
