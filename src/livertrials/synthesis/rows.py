"""Row helpers every synthesis step shares: frames as lists of dicts, null-safe cells, stable row ids."""

from __future__ import annotations

import hashlib
import math

import pandas as pd

from livertrials.io.tables import row_dicts as records  # noqa: F401 (synthesis steps call it rows.records)


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
