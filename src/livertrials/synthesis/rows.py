"""Row helpers every synthesis step shares: frames as lists of dicts, null-safe cells, stable row ids."""

from __future__ import annotations

import hashlib
import math

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict]:
    """frame.to_dict("records"), the same values built column by column: several times faster on
    Arrow-backed string columns, and large corpora convert tens of thousands of rows."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def text(x) -> str | None:
    """A string cell, or None for null/NaN."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def finite(x) -> bool:
    return x is not None and not pd.isna(x) and math.isfinite(float(x))


def optional_float(x) -> float | None:
    """A float cell, or None for null/NaN (a None put into a float column comes back as NaN)."""
    return None if x is None or pd.isna(x) else float(x)


def stable_id(*parts) -> str:
    """A 16-hex id from what a row is (never from its numbers), so it survives reruns and added studies."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]
