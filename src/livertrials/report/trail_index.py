"""Which audit trails the report can hold, found on the lineage's id columns, and an Auditor over just their rows.

The page holds at most ``report.audit_trail_budget`` lines of trails. At 1,000 studies a pooled estimate's
trail has ~10,000 lines and all but a few of the page's 2,000 trails are over the budget; counting each one row
by row took 30 s, and the Auditor of the whole lineage (every column of 1.4 million rows) held 1 GB. So:

* ``LineageIndex`` reads four columns of the lineage and gives, for every id at once, a lower bound of the lines
  of its trail: its line, one step line, one line per extraction or patient row plus the quote and source lines of
  each distinct quote, and the trail of every other input (one line if that input has no inputs). It leaves out
  the second and later distinct step lines of an id, so it is never above Auditor.size; a trail it puts over the
  budget is never counted.
* ``LineageIndex.auditor(ids)`` is an ``Auditor`` over a results folder holding only the lineage rows the trails of
  ``ids`` visit (in their order) and links to the tables it describes ids from: the same trail text, at the cost
  of those rows. Ids the lineage does not hold, or a folder without lineage, get the Auditor of the whole folder
  (its message names the folder).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from livertrials.io.cache import content_key
from livertrials.lineage.trails import RECORD_COLUMNS, RESULT_COLUMNS, Auditor
from livertrials.report.digests import parquet_digest, rows_digest

LEAF_KINDS = ("extraction_row", "patient_row")   # inputs a trail prints without walking below them
DESCRIBED = ("harmonized/outcomes.parquet", "synthesis/comparisons.parquet", "synthesis/pooled.parquet")
STRUCTURE = ["output_id", "input_id", "input_kind", "quote"]           # the columns LineageIndex reads
PRINTED = ["step", "transformation", "statistic", "value", "unit", "file", "line", "source", "location"]
DESCRIBERS = (("harmonized/outcomes.parquet", "record_id", RECORD_COLUMNS),        # what Auditor.describe reads
              ("synthesis/comparisons.parquet", "comparison_id", RESULT_COLUMNS),
              ("synthesis/pooled.parquet", "pooled_id", RESULT_COLUMNS))


def lineage_file(results: Path) -> Path:
    """The lineage table Auditor reads: the merged one, else harmonization's alone."""
    path = results / "provenance" / "lineage.parquet"
    return path if path.exists() else results / "provenance" / "lineage_harmonize.parquet"


def _codes(array: pa.ChunkedArray) -> np.ndarray:
    """Integer codes of a column's values (nulls: -1)."""
    indices = array.combine_chunks().dictionary_encode().indices
    return pc.fill_null(indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


class LineageIndex:
    def __init__(self, results: Path):
        self.results = Path(results)
        self.path = lineage_file(self.results)
        table = pq.read_table(self.path, columns=["output_id", "input_id", "input_kind", "quote"]) \
            if self.path.exists() else None
        self.empty = table is None or table.num_rows == 0
        if self.empty:
            return
        outputs = table.column("output_id").combine_chunks().dictionary_encode()
        self.found = outputs.dictionary                                   # one code per id with inputs
        self.node = outputs.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        below = pc.index_in(table.column("input_id"), value_set=self.found)
        self.below = pc.fill_null(below, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        self.inputs = table.column("input_id")
        kind = table.column("input_kind")
        self.leaf = pc.is_in(kind, value_set=pa.array(LEAF_KINDS)).to_numpy(zero_copy_only=False)
        extraction = pc.equal(kind, "extraction_row").to_numpy(zero_copy_only=False)
        quotes = _codes(table.column("quote"))
        size = len(self.found)
        distinct = pd.DataFrame({"node": self.node[extraction], "quote": quotes[extraction]}).drop_duplicates()
        base = 2 + np.bincount(self.node[self.leaf], minlength=size) \
            + 2 * np.bincount(distinct["node"].to_numpy(), minlength=size)
        inner, inner_below = self.node[~self.leaf], self.below[~self.leaf]
        bounds = base + np.bincount(inner, minlength=size)            # every other input one line, to start
        for _ in range(64):                                           # a level of the lineage per round
            counted = np.where(inner_below >= 0, bounds[np.maximum(inner_below, 0)], 1)
            deeper = base + np.bincount(inner, weights=counted, minlength=size).astype(np.int64)
            if np.array_equal(deeper, bounds):
                break
            bounds = deeper
        self.bounds = bounds
        self.order = np.argsort(self.node, kind="stable")             # rows grouped by output id, in table order
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(self.node, minlength=size))])

    def nodes(self, rows: np.ndarray) -> list[str]:
        """The ids that the lineage rows ``rows`` name (as output or input)."""
        if self.empty or not len(rows):
            return []
        taken = pa.array(rows)
        names = pc.unique(pa.chunked_array([self.found.take(pa.array(self.node[rows])),
                                            self.inputs.take(taken).combine_chunks()]))
        return sorted(names.drop_null().to_pylist())

    def _code(self, ids: list[str]) -> list[int | None]:
        return pc.index_in(pa.array(ids, pa.string()), value_set=self.found).to_pylist()

    def at_least(self, ids: list[str]) -> dict[str, int]:
        """A lower bound of the lines of each id's trail (0 for an id with no inputs in the lineage)."""
        if self.empty or not ids:
            return {}
        return {ident: 0 if code is None else int(self.bounds[code]) for ident, code in zip(ids, self._code(ids))}

    def rows(self, ids: list[str], known_only: bool = False) -> np.ndarray | None:
        """The lineage rows the trails of ``ids`` visit, in table order (None: an id the lineage does not hold;
        with ``known_only``, such an id visits no row)."""
        codes = self._code(ids)
        rows = []
        for ident, code in zip(ids, codes):
            if code is None:                          # an input only: its trail is its own line, one row names it
                match = np.flatnonzero(pc.equal(self.inputs, ident).to_numpy(zero_copy_only=False))
                if not len(match) and known_only:
                    continue
                if not len(match):
                    return None
                rows.append(match[:1])
        seen = np.zeros(len(self.found), dtype=bool)
        frontier = np.unique([c for c in codes if c is not None])
        while len(frontier):
            seen[frontier] = True
            taken = [self.order[self.starts[c]:self.starts[c + 1]] for c in frontier]
            mine = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
            rows.append(mine)
            nxt = self.below[mine[~self.leaf[mine]]]
            nxt = np.unique(nxt[nxt >= 0])
            frontier = nxt[~seen[nxt]]
        return np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)

    def auditor(self, ids: list[str]) -> Auditor:
        """An Auditor that gives the same trail() and size() as the whole folder's for ``ids``."""
        return self.auditor_over(None if self.empty else self.rows(ids))

    def auditor_over(self, rows: np.ndarray | None) -> Auditor:
        """An Auditor over the lineage rows ``rows`` (from rows(); None: the whole folder's)."""
        if rows is None:
            return Auditor(self.results)
        with tempfile.TemporaryDirectory(prefix="livertrials-trails-") as tmp:
            folder = Path(tmp)
            (folder / "provenance").mkdir()
            pq.write_table(self._take(rows), folder / "provenance" / "lineage.parquet")
            for name in DESCRIBED:
                source = self.results / name
                if source.exists():
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    (folder / name).symlink_to(source.resolve())
            return Auditor(folder)                    # reads every table now: the folder may go

    def _take(self, rows: np.ndarray) -> pa.Table:
        """Rows of the lineage file by position, read one row group at a time (the whole table is never in memory,
        and a group holding none of them is not read)."""
        return take_rows(pq.ParquetFile(self.path), rows)


def take_rows(handle: pq.ParquetFile, rows: np.ndarray, columns: list[str] | None = None) -> pa.Table:
    """Rows of a Parquet file by position (ascending), read a row group at a time."""
    meta = handle.metadata
    starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
    group_of = np.searchsorted(starts, rows, side="right") - 1
    parts = []
    for group in np.unique(group_of):
        mine = rows[group_of == group] - starts[group]
        parts.append(handle.read_row_group(int(group), columns=columns).take(pa.array(mine)))
    if parts:
        return pa.concat_tables(parts)
    schema = handle.schema_arrow
    return (schema if columns is None else pa.schema([schema.field(c) for c in columns])).empty_table()


def structure_digest(results: Path) -> str:
    """Digest of the lineage's id columns (and its quotes): what LineageIndex is made from."""
    path = lineage_file(Path(results))
    return parquet_digest(path, STRUCTURE) if path.exists() else "no lineage"


def printed_digest(results: Path, rows: np.ndarray, nodes: list[str], known: dict, used: dict) -> str:
    """Digest of what the trails over the lineage rows ``rows`` print beyond structure_digest: those rows' other
    columns, and the rows of the result tables describing ``nodes`` (digests.rows_digest: ``known`` and ``used``
    spare the column chunks stored as in an earlier build)."""
    results = Path(results)
    path = lineage_file(results)
    parts = [rows_digest(path, rows, PRINTED, known, used) if path.exists() and len(rows) else "no rows"]
    wanted = pa.array(nodes, pa.string())
    named = hashlib.sha256("\n".join(nodes).encode()).hexdigest()
    for name, key, columns in DESCRIBERS:
        source = results / name
        if not source.exists() or key not in pq.read_schema(source).names:
            parts.append(f"{name}: none")
            continue
        where = ("rows of", name, parquet_digest(source, [key]), named)     # the rows naming ``nodes``
        if where not in known:
            ids = pq.read_table(source, columns=[key]).column(key)
            known[where] = np.flatnonzero(pc.is_in(ids, value_set=wanted).to_numpy(zero_copy_only=False))
        used[where] = found = known[where]
        parts.append(rows_digest(source, found, [key, *columns], known, used))
    return content_key(parts)
