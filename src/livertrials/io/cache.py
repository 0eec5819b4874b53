"""A content-addressed cache of derived results, for rebuilds after a small edit (docs/cache.md).

A living review is edited one extraction at a time: after an edit most pools, figures and report fragments
are computed from exactly the same inputs as last time. A step asks the cache with a **key**, the SHA-256 of
everything the result depends on (its input rows, its settings, the namespace and the code version), and
computes the result only on a miss. So a stale entry is never served: any change in what the result uses
changes its key. An entry is ``<root>/<namespace>/<key[:2]>/<key>`` holding the SHA-256 of its payload, then
the payload (a pickle); an entry whose checksum or pickle does not hold (a crash cannot leave one, as entries
are written under a temporary name and renamed, but a disk or a person can) is deleted and recomputed, never
served. Pickles are read only from the project's own ``results/cache`` (as trusted as the rest of results/).

After a step, ``prune`` deletes the namespace's entries that the run did not use, so the cache holds one
build's worth of entries and never grows with the history of edits. A cache with no root (``root=None``,
config ``cache_dir: ""``) computes everything, as a cold build does.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from livertrials.io.atomic import atomic_path

CHECKSUM_BYTES = 32   # SHA-256
KEY_CHARACTERS = 64


def content_key(*parts: Any) -> str:
    """SHA-256 (hex) of ``parts`` in a canonical text form: equal content gives an equal key whatever the object
    identity, column dtype layout or dict order; floats are written exactly (repr), so any change of a number
    changes the key. DataFrames count with their columns, index and values; numpy arrays with dtype and values."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=_canonical, allow_nan=True,
                                 separators=(",", ":")).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _canonical(value: Any):
    if isinstance(value, pd.DataFrame):
        return {"__frame__": [[str(c), str(t)] for c, t in value.dtypes.items()],
                "index": _canonical(value.index), "rows": [_canonical_row(r) for r in value.itertuples(index=False)]}
    if isinstance(value, pd.Index):
        return [_canonical_scalar(v) for v in value.tolist()]
    if isinstance(value, pd.Series):
        return {"__series__": str(value.dtype), "index": _canonical(value.index),
                "values": [_canonical_scalar(v) for v in value.tolist()]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":   # numbers: their bytes (exact, and fast for a pool's row digests)
            return {"__array__": str(value.dtype), "shape": list(value.shape),
                    "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
        return {"__array__": str(value.dtype), "shape": list(value.shape),
                "values": [_canonical_scalar(v) for v in value.ravel().tolist()]}
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical_scalar(v) for v in value)
    return _canonical_scalar(value)


def _canonical_row(row) -> list:
    return [_canonical_scalar(v) for v in row]


def _canonical_scalar(value: Any):
    if isinstance(value, (np.generic,)):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):   # json writes floats exactly (repr)
        return value
    if isinstance(value, (list, tuple)):
        return [_canonical_scalar(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical_scalar(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, np.ndarray):
        return _canonical(value)
    if value is pd.NA or value is pd.NaT:
        return {"__missing__": repr(value)}
    if isinstance(value, pd.Timestamp):
        return {"__time__": value.isoformat()}
    raise TypeError(f"no canonical form for a cache key: {type(value).__name__}")


def row_digests(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit digest per row of ``frame`` over every column (pandas ``hash_pandas_object``; lists and other
    cell values by their repr, which writes floats exactly), for keying the groups of a large table: digesting
    each row once is far cheaper than a canonical text of every group. Digests are positional: key a group with
    its rows' digests in its own order, with ``columns_signature(frame)``."""
    if frame.empty:
        return np.empty(0, dtype=np.uint64)
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:   # lists, mixed values; text columns (str dtype) are hashed as they are
            column = pd.Series([_cell_text(value) for value in column.tolist()], index=frame.index, dtype=object)
        columns[str(name)] = column
    return pd.util.hash_pandas_object(pd.DataFrame(columns, index=frame.index), index=False).to_numpy()


def columns_signature(frame: pd.DataFrame) -> list[list[str]]:
    """Column names and dtypes: part of a key made from ``row_digests``."""
    return [[str(c), str(t)] for c, t in frame.dtypes.items()]


def _cell_text(value) -> str:
    # type name first: "1" (text) and 1 (number) in an object column must not collide; lists by repr, but lists of
    # floats (pool weights: hundreds per row) by their bits, as exact and far quicker to write
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and value.size:
            return f"floats:{value.astype('<f8').tobytes().hex()}"
        value = value.tolist()
    if isinstance(value, (list, tuple)) and value and all(isinstance(x, float) for x in value):
        return f"floats:{np.asarray(value, dtype='<f8').tobytes().hex()}"
    return f"{type(value).__name__}:{value!r}"


class ContentCache:
    """Entries of one namespace (e.g. "pools", "forests") under ``root``; ``code`` is the identity of the code
    that computes them (the package's source digest), part of every key."""

    def __init__(self, root: str | os.PathLike | None, namespace: str, code: str):
        self.folder = Path(root) / namespace if root else None
        self.namespace, self.code = namespace, code
        self.used: set[str] = set()
        self.hits = self.misses = self.rejected = 0

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def key(self, *parts: Any) -> str:
        return content_key(self.namespace, self.code, *parts)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, value) for an intact entry; (False, None) if there is none or it failed its checks (then
        it is deleted)."""
        if not self.enabled:
            return False, None
        self.used.add(key)
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return False, None
        payload = raw[CHECKSUM_BYTES:]
        try:
            if len(raw) <= CHECKSUM_BYTES or hashlib.sha256(payload).digest() != raw[:CHECKSUM_BYTES]:
                raise ValueError("checksum does not match")
            value = pickle.loads(payload)
        except Exception as error:   # any damage: recompute, never serve
            print(f"cache: damaged entry {self.namespace}/{key} rebuilt ({error})")
            path.unlink(missing_ok=True)
            self.rejected += 1
            return False, None
        self.hits += 1
        return True, value

    def put(self, key: str, value: Any) -> None:
        if not self.enabled:
            return
        self.used.add(key)
        payload = pickle.dumps(value, protocol=5)
        with atomic_path(self._path(key)) as tmp:
            tmp.write_bytes(hashlib.sha256(payload).digest() + payload)

    def fetch(self, key: str, compute: Callable[..., Any], *args: Any) -> Any:
        """The cached value for ``key``, or ``compute(*args)`` stored under it."""
        found, value = self.get(key)
        if found:
            return value
        value = compute(*args)
        self.put(key, value)
        return value

    def prune(self) -> int:
        """Delete the entries this run did not use (and stray temporary files); returns how many."""
        if not self.enabled or not self.folder.is_dir():
            return 0
        removed = 0
        for path in self.folder.glob("*/*"):
            if path.name not in self.used:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def summary(self) -> str:
        if not self.enabled:
            return f"cache {self.namespace}: off"
        return (f"cache {self.namespace}: {self.hits} reused, {self.misses} computed"
                + (f", {self.rejected} damaged entries rebuilt" if self.rejected else ""))
