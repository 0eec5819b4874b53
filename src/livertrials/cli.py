"""Command line: ``livertrials validate FOLDER...`` and ``livertrials audit ID``."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from livertrials.io.registry import DEFAULT_REGISTRY, load_registry


def validate_command(args) -> int:
    """Validate study folders without running the workflow; exit 1 if any has errors."""
    from livertrials.harmonize.study import process_study

    registry = load_registry(args.registry)
    failed = 0
    for folder in args.folders:
        records, _, issues = process_study(Path(folder), "studies", registry)
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            print(issue)
        print(f"{folder}: {'REJECTED' if errors else 'ok'} ({len(errors)} errors, {len(issues) - len(errors)} warnings, "
              f"{len(records)} harmonized records)")
        failed += bool(errors)
    return 1 if failed else 0


class Auditor:
    """Loads the lineage and result tables of a results folder once; ``trail(id)`` walks them.

    The HTML report asks for hundreds of trails: reading the tables per id made it the slowest rule.
    """

    def __init__(self, results: Path):
        import pyarrow.parquet as pq

        self.results = Path(results)
        path = self.results / "provenance" / "lineage.parquet"
        if not path.exists():
            path = self.results / "provenance" / "lineage_harmonize.parquet"
        # The lineage stays an Arrow table; rows are taken out only for the ids a trail visits (millions
        # of rows at 1,000 studies: a DataFrame per id, or pandas iloc per visit, took minutes).
        self.lineage = pq.read_table(path).combine_chunks() if path.exists() else None   # take() on one chunk is fast
        self.empty = self.lineage is None or self.lineage.num_rows == 0
        ids = pd.DataFrame({"output_id": [], "input_id": []}) if self.empty else \
            self.lineage.select(["output_id", "input_id"]).to_pandas()
        self.positions = ids.groupby("output_id", sort=False).indices if not self.empty else {}
        self.inputs = set(ids["input_id"])
        self._edges: dict[str, list] = {}
        self._sizes: dict[str, int] = {}
        self.describe = _describers(self.results)

    def edges(self, node: str) -> list | None:
        """The lineage rows whose output is ``node``, as objects with one attribute per column (None: no rows)."""
        if node not in self.positions:
            return None
        if node not in self._edges:
            rows = self.lineage.take(self.positions[node]).to_pylist()
            self._edges[node] = [SimpleNamespace(**row) for row in rows]
        return self._edges[node]

    def trail(self, wanted: str, max_lines: int | None = None) -> list[str] | None:
        """The audit trail of an id as lines of text, from the output down to the printed sentences.

        With ``max_lines``, a trail that would be longer is not written out (None is returned): at 1,000
        studies one pooled estimate's trail has ~10,000 lines."""
        results, describe = self.results, self.describe
        if self.empty:
            return [f"No lineage found under {results}: run the workflow first."]
        if wanted not in self.positions and wanted not in self.inputs:
            return [f"{wanted}: no such id in {results}/provenance (ids are listed in the record_id, comparison_id and pooled_id columns)."]
        lines: list[str] = []

        def walk(node: str, depth: int) -> None:
            pad = "  " * depth
            lines.append(pad + describe(node))
            edges = self.edges(node)
            if edges is None:
                return
            shown_steps, shown_quotes = set(), set()
            for edge in edges:
                step = f"{pad}  <- {_step(edge)}"
                if step not in shown_steps:  # the same step for many inputs is said once
                    lines.append(step)
                    shown_steps.add(step)
                if edge.input_kind == "extraction_row":
                    lines.append(f"{pad}     row {edge.input_id}: {edge.statistic} = {edge.value} {edge.unit or ''}".rstrip()
                                 + f" ({edge.file}, line {edge.line})")
                    if edge.quote not in shown_quotes:
                        lines.append(f"{pad}       quote: \"{edge.quote}\"")
                        lines.append(f"{pad}       source: {edge.source}" + (f" ({edge.location})" if edge.location else ""))
                        shown_quotes.add(edge.quote)
                elif edge.input_kind == "patient_row":
                    lines.append(f"{pad}     patient row {edge.file}, line {edge.line}")
                else:
                    walk(edge.input_id, depth + 2)

        if max_lines is not None and self.size(wanted) > max_lines:
            return None
        walk(wanted, 0)
        return lines

    def size(self, node: str) -> int:
        """Lines of the trail of ``node``, counted as trail() writes them but without describing any id; kept per
        id, so that the report can skip trails too long for its budget at the cost of one count per id."""
        if node not in self._sizes:
            lines, steps, quotes = 1, set(), set()
            for edge in self.edges(node) or []:
                if _step(edge) not in steps:
                    steps.add(_step(edge))
                    lines += 1
                if edge.input_kind == "extraction_row":
                    lines += 1 if edge.quote in quotes else 3
                    quotes.add(edge.quote)
                elif edge.input_kind == "patient_row":
                    lines += 1
                else:
                    lines += self.size(edge.input_id)
            self._sizes[node] = lines
        return self._sizes[node]


def _step(edge) -> str:
    return f"[{edge.step}: {edge.transformation}]"


def trail(results: Path, wanted: str) -> list[str]:
    """The audit trail of one id (loads the tables; use Auditor for many ids)."""
    return Auditor(results).trail(wanted)


class _RowsById:
    """Rows of a Parquet table by an id column, taken out of the Arrow table one at a time when asked for
    (pandas .loc per row took 0.3 ms: a minute for the 230,000 rows the report's trails describe)."""

    def __init__(self, path: Path, key: str, columns: tuple[str, ...]):
        import pyarrow.parquet as pq

        self.key, self.table, self.position = key, None, {}
        if path.exists():
            names = set(pq.read_schema(path).names)
            if key in names:
                self.table = pq.read_table(path, columns=[c for c in (key, *columns) if c in names]).combine_chunks()
                ids = self.table.column(key).to_pylist()
                self.position = {ident: i for i, ident in reversed(list(enumerate(ids)))}   # the first row of an id

    def get(self, ident: str) -> dict | None:
        """The row's columns other than the id (None: no such id)."""
        i = self.position.get(ident)
        return None if i is None else self.table.slice(i, 1).drop_columns([self.key]).to_pylist()[0]


def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


RECORD_COLUMNS = ("mean", "events", "estimate", "study_id", "arm_id", "arm_role", "outcome", "timepoint_text", "unit",
                  "method", "flags")
RESULT_COLUMNS = ("study_id", "outcome", "window", "measure", "analysis", "estimate", "yi", "ci_lb", "ci_ub", "k")


def _describers(results: Path):
    records = _RowsById(results / "harmonized" / "outcomes.parquet", "record_id", RECORD_COLUMNS)
    tables = {name: _RowsById(results / "synthesis" / f"{name}.parquet", key, RESULT_COLUMNS)
              for name, key in (("comparisons", "comparison_id"), ("pooled", "pooled_id"))}

    def describe(node: str) -> str:
        r = records.get(node)
        if r is not None:
            value = next((f"{k} {r[k]:.4g}" for k in ("mean", "events", "estimate") if _finite(r[k])), "no value")
            return (f"harmonized record {node}: {r['study_id']} / {r['arm_id']} ({r['arm_role']}) / {r['outcome']} / "
                    f"{r['timepoint_text']}: {value} {r['unit'] or ''} [method: {r['method']}; flags: {', '.join(r['flags']) or 'none'}]")
        for name, rows in tables.items():
            r = rows.get(node)
            if r is not None:
                shown = {k: v for k, v in r.items() if _finite(v)}
                return f"{name} {node}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        return node

    return describe


def audit_command(args) -> int:
    lines = trail(Path(args.results), args.id)
    print("\n".join(lines))
    return 1 if lines and ("no such id" in lines[0] or lines[0].startswith("No lineage")) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livertrials", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate study folders (no workflow run)")
    validate.add_argument("folders", nargs="+")
    validate.add_argument("--registry", default=str(DEFAULT_REGISTRY))
    validate.set_defaults(func=validate_command)
    audit = sub.add_parser("audit", help="print the full trail of a result id down to the printed source sentences")
    audit.add_argument("id")
    audit.add_argument("--results", default="results")
    audit.set_defaults(func=audit_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
