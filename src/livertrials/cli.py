"""Command line: ``livertrials validate FOLDER...`` and ``livertrials audit ID``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from livertrials.registry import DEFAULT_REGISTRY, load_registry


def validate_command(args) -> int:
    """Validate study folders without running the workflow; exit 1 if any has errors."""
    from livertrials.build import process_study

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


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


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
        self.describe = _describers(self.results, _read(self.results / "harmonized" / "outcomes.parquet"))

    def edges(self, node: str) -> list | None:
        """The lineage rows whose output is ``node``, as objects with one attribute per column (None: no rows)."""
        if node not in self.positions:
            return None
        if node not in self._edges:
            rows = self.lineage.take(self.positions[node]).to_pylist()
            self._edges[node] = [SimpleNamespace(**row) for row in rows]
        return self._edges[node]

    def trail(self, wanted: str) -> list[str]:
        """The audit trail of an id as lines of text, from the output down to the printed sentences."""
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
                step = f"{pad}  <- [{edge.step}: {edge.transformation}]"
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

        walk(wanted, 0)
        return lines


def trail(results: Path, wanted: str) -> list[str]:
    """The audit trail of one id (loads the tables; use Auditor for many ids)."""
    return Auditor(results).trail(wanted)


def _describers(results: Path, harmonized: pd.DataFrame):
    records = harmonized.set_index("record_id") if not harmonized.empty else pd.DataFrame()
    tables = {}
    for name, key in (("comparisons", "comparison_id"), ("pooled", "pooled_id")):
        frame = _read(results / "synthesis" / f"{name}.parquet")
        if not frame.empty and key in frame:
            tables[name] = frame.set_index(key)

    def describe(node: str) -> str:
        if not records.empty and node in records.index:
            r = records.loc[node]
            value = next((f"{k} {r[k]:.4g}" for k in ("mean", "events", "estimate") if pd.notna(r[k])), "no value")
            return (f"harmonized record {node}: {r['study_id']} / {r['arm_id']} ({r['arm_role']}) / {r['outcome']} / "
                    f"{r['timepoint_text']}: {value} {r['unit'] or ''} [method: {r['method']}; flags: {', '.join(r['flags']) or 'none'}]")
        for name, frame in tables.items():
            if node in frame.index:
                r = frame.loc[node]
                shown = {k: r[k] for k in ("study_id", "outcome", "window", "measure", "analysis", "estimate", "yi", "ci_lb", "ci_ub", "k")
                         if k in r.index and pd.notna(r[k])}
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
