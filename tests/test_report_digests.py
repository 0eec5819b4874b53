"""The report's cache keys from stored Parquet bytes (report.digests): the same values give the same digest whatever
the run manifest in the file's metadata; any value the digest covers changes it; memoized chunks give the same."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from livertrials.report.digests import parquet_digest, rows_digest


def _write(path, values: list[str], numbers: list[float], run: str, row_group_size: int = 4) -> None:
    table = pa.table({"id": [f"x{i}" for i in range(len(values))], "text": values, "number": numbers})
    pq.write_table(table.replace_schema_metadata({"livertrials.manifest": run}), path, row_group_size=row_group_size)


def test_a_column_digest_ignores_the_metadata_and_other_columns(tmp_path):
    path = tmp_path / "t.parquet"
    values, numbers = [f"v{i}" for i in range(10)], [float(i) for i in range(10)]
    _write(path, values, numbers, "run 1")
    first, texts = parquet_digest(path), parquet_digest(path, ["id", "text"])
    _write(path, values, numbers, "run 2")                                   # the same rows, another run
    assert parquet_digest(path) == first and parquet_digest(path, ["id", "text"]) == texts
    _write(path, values, [*numbers[:9], 9.5], "run 3")                       # one number changes
    assert parquet_digest(path) != first and parquet_digest(path, ["id", "text"]) == texts
    _write(path, [*values[:9], "w9"], numbers, "run 4")
    assert parquet_digest(path, ["id", "text"]) != texts
    assert parquet_digest(path, ["text"]) != parquet_digest(path, ["id"])


def test_rows_digest_covers_the_rows_taken_and_reuses_unchanged_chunks(tmp_path):
    path = tmp_path / "t.parquet"
    values, numbers = [f"v{i}" for i in range(10)], [float(i) for i in range(10)]
    rows = np.array([1, 2, 9])
    _write(path, values, numbers, "run 1")
    used: dict = {}
    first = rows_digest(path, rows, ["text", "number", "absent"], {}, used)
    assert len(used) == 2 * 2                              # two row groups hold the rows (of 4 rows each), two columns
    again: dict = {}
    assert rows_digest(path, rows, ["text", "number", "absent"], used, again) == first and again == used
    _write(path, values, [*numbers[:3], 33.0, *numbers[4:]], "run 2")        # a row not taken, in a group read
    fresh: dict = {}
    assert rows_digest(path, rows, ["text", "number", "absent"], used, fresh) == first and fresh != used
    _write(path, [*values[:9], "w9"], numbers, "run 3")                      # a row taken
    assert rows_digest(path, rows, ["text", "number"], used, {}) != first
    assert rows_digest(path, rows, ["text", "number"], {}, {}) == rows_digest(path, rows, ["text", "number"], used, {})
    assert rows_digest(path, np.array([1, 2]), ["text", "number"], {}, {}) != \
        rows_digest(path, np.array([1, 2, 9]), ["text", "number"], {}, {})
