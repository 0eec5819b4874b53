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

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from livertrials.lineage.trails import Auditor

LEAF_KINDS = ("extraction_row", "patient_row")   # inputs a trail prints without walking below them
DESCRIBED = ("harmonized/outcomes.parquet", "synthesis/comparisons.parquet", "synthesis/pooled.parquet")
BATCH_ROWS = 1 << 17


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

    def _code(self, ids: list[str]) -> list[int | None]:
        return pc.index_in(pa.array(ids, pa.string()), value_set=self.found).to_pylist()

    def at_least(self, ids: list[str]) -> dict[str, int]:
        """A lower bound of the lines of each id's trail (0 for an id with no inputs in the lineage)."""
        if self.empty or not ids:
            return {}
        return {ident: 0 if code is None else int(self.bounds[code]) for ident, code in zip(ids, self._code(ids))}

    def _rows(self, ids: list[str]) -> np.ndarray | None:
        """The lineage rows the trails of ``ids`` visit, in table order (None: an id the lineage does not hold)."""
        codes = self._code(ids)
        rows = []
        for ident, code in zip(ids, codes):
            if code is None:                          # an input only: its trail is its own line, one row names it
                match = np.flatnonzero(pc.equal(self.inputs, ident).to_numpy(zero_copy_only=False))
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
        rows = None if self.empty else self._rows(ids)
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
        """Rows of the lineage file by position, read a batch at a time (the whole table is never in memory)."""
        handle = pq.ParquetFile(self.path)
        parts, offset = [], 0
        for batch in handle.iter_batches(batch_size=BATCH_ROWS):
            lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
            if hi > lo:
                parts.append(batch.take(pa.array(rows[lo:hi] - offset)))
            offset += batch.num_rows
        return pa.Table.from_batches(parts) if parts else handle.schema_arrow.empty_table()
