"""measurements.csv: the rules of one study's rows, listed once, and the two ways of evaluating them.

``measurement_rules`` lists every rule as (column, name, function). From that one list,
``measurement_schema`` builds the pandera schema (the validator of record: its failure cases become
the Issues, validate.rows) and ``passes_quickly`` calls the same functions on the table directly.
Almost every study passes, and for a table that passes pandera's own work (copies, failure-case
bookkeeping, one component validation per column) cost ~30 ms of CPU a study of the synthetic corpus
(~70 rows), the quick pass ~4 ms. ``passes_quickly`` answers True only when pandera would pass the table too; on
any failure, and on anything unusual (a null, an unknown column, a dtype pandera might not take,
a check that raises or does not return a Series), it answers False and pandera runs exactly as
before, so every issue is reported as it was.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.engines.pandas_engine import Engine

from livertrials.io.extraction import MEASUREMENT_COLUMNS, REQUIRED_COLUMNS
from livertrials.io.tables import row_dicts

KNOWN_FLAGS = {"secondary_source", "arm_attribution_uncertain", "not_printed", "km_estimate", "approximate", "quote_is_gloss"}


@dataclass(frozen=True)
class MeasurementRules:
    """Every rule of measurements.csv for one study (checked in this order, as pandera reports them).

    passes_quickly rejects any null, and any column outside ``required`` whatever ``strict`` says: it may only be stricter.
    """

    required: dict[str, bool]  # column -> must it be present? (in the order of the format)
    column_checks: list[tuple[str, str, Callable[[pd.Series], pd.Series]]]  # (column, rule, column -> True where fine)
    row_checks: list[tuple[str, Callable[[dict], object]]]  # (rule, row as a dict -> truthy if fine)
    dtype: type = str  # of every column
    nullable: bool = False
    strict: bool = True  # no column outside the format


def measurement_rules(rules, arm_ids: set[str], row_rules: bool = True) -> MeasurementRules:
    """The rules for one study; ``rules`` is its validate.rows.RowRules (arm sizes and the registry).

    ``row_rules=False`` when a required column is missing: the row rules cannot run (the missing column is reported).
    """
    registry = rules.registry

    def not_empty(s: pd.Series) -> pd.Series:
        return s.str.strip() != ""

    def known_flags(value: str) -> bool:
        return all(f.strip() in KNOWN_FLAGS for f in value.split(";") if f.strip())

    return MeasurementRules(
        required={c: c in REQUIRED_COLUMNS for c in MEASUREMENT_COLUMNS},
        column_checks=[
            ("row_id", "not empty", not_empty),
            ("row_id", "unique row_id", lambda s: ~s.duplicated(keep=False)),
            ("arm", "known arm", lambda s: s.isin(arm_ids)),
            ("outcome", "known outcome", lambda s: s.map(lambda v: registry.outcome(v) is not None)),
            ("statistic", "known statistic", lambda s: s.map(lambda v: registry.statistic(v) is not None)),
            ("timepoint", "readable timepoint", lambda s: s.map(rules.timepoint_ok)),
            ("source", "not empty", not_empty),
            ("quote", "not empty", not_empty),
            ("flags", "known flag", lambda s: s.map(known_flags)),
        ],
        row_checks=[
            ("number as printed", rules.value_ok),
            ("unit allowed for outcome", rules.unit_ok),
            ("plausible range", rules.plausible),
            ("SD and SE are not negative", rules.spread_ok),
            ("percentage within 0-100", rules.percent_ok),
            ("count within arm size", rules.count_ok),
        ] if row_rules else [],
    )


class TableRecords:
    """The rows of the table being validated as plain dicts, converted once for all row rules.

    Rules run over plain dicts: pandas' row-wise apply builds a Series per row and dominated the
    build time of large corpora, and converting the table once per rule (six rules) made validation
    of 300 synthetic studies take ~1.4x the CPU time (validate_measurements: 4.6 s -> 6.5 s).
    """

    def __init__(self):
        # a weak reference: pandera attaches the schema to the table it validates, so a strong one
        # would make a cycle (table -> schema -> this -> table) that only the garbage collector frees
        self.frame = lambda: None
        self.records: list[dict] = []

    def __call__(self, frame: pd.DataFrame) -> list[dict]:
        if self.frame() is not frame:
            self.frame, self.records = weakref.ref(frame), row_dicts(frame)
        return self.records


def measurement_schema(spec: MeasurementRules) -> pa.DataFrameSchema:
    """The pandera schema of the rules: a failed rule is a failure case named by the rule."""
    records = TableRecords()  # the schema's own: dropped with it, so no table outlives its validation

    def row_check(name: str, func):
        return pa.Check(lambda df: pd.Series([bool(func(r)) for r in records(df)], index=df.index, dtype=bool),
                        name=name, error=name)

    columns = {
        column: pa.Column(spec.dtype, nullable=spec.nullable, required=required,
                          checks=[pa.Check(func, name=name, error=name) for c, name, func in spec.column_checks if c == column])
        for column, required in spec.required.items()
    }
    return pa.DataFrameSchema(columns, strict=spec.strict, checks=[row_check(name, func) for name, func in spec.row_checks])


def passes_quickly(spec: MeasurementRules, frame: pd.DataFrame) -> bool:
    """True only if the schema of ``spec`` passes ``frame``: the same checks, without pandera's machinery.

    False means "ask pandera" (a rule fails, or the table is unusual), never "invalid".
    """
    if not isinstance(frame, pd.DataFrame):
        return False
    try:
        names = list(frame.columns)
        if (not frame.columns.is_unique or not set(names) <= spec.required.keys()
                or any(required and c not in names for c, required in spec.required.items())
                or any(dtype != accepted_dtype(spec.dtype) for dtype in frame.dtypes)):
            return False
        cells = frame.to_numpy(dtype=object).tolist()
        # in a column of that dtype a cell is a str or null: so, no nulls. The records then equal
        # row_dicts(frame) (what the schema's row checks get), at a tenth of its cost
        if not all(type(value) is str for row in cells for value in row):
            return False
        for name, _, func in spec.column_checks:
            if name in names:
                result = func(frame[name])
                if not isinstance(result, pd.Series) or not result.all():
                    return False
        records = [dict(zip(names, row)) for row in cells]
        return all(func(r) for _, func in spec.row_checks for r in records)
    except Exception:  # noqa: BLE001 (a check that raises is pandera's to report)
        return False


@functools.cache
def accepted_dtype(dtype: type):
    """The pandas dtype of pandera's type for ``dtype``: a column of exactly that dtype passes its dtype check.

    (pandera accepts some other dtypes too, e.g. object columns of str: those are left to pandera.)
    """
    return Engine.dtype(dtype).type
