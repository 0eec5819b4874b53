"""Command line: ``livertrials validate FOLDER...`` and ``livertrials audit ID``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from livertrials.io.registry import DEFAULT_REGISTRY, load_registry
from livertrials.lineage.trails import NoLineageError, trail


def validate_command(args) -> int:
    """Validate study folders without running the workflow; exit 1 if any has errors."""
    from livertrials.harmonize.study import process_study

    registry = load_registry(args.registry)
    failed = 0
    for folder in args.folders:
        collection = "comparators" if Path(folder).resolve().parent.name == "comparators" else "studies"
        records, _, issues = process_study(Path(folder), collection, registry)
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            print(issue)
        print(f"{folder}: {'REJECTED' if errors else 'ok'} ({len(errors)} errors, {len(issues) - len(errors)} warnings, "
              f"{len(records)} harmonized records)")
        failed += bool(errors)
    return 1 if failed else 0


def audit_command(args) -> int:
    """Print the trail of one id; exit 1 if the results folder has no lineage or no such id."""
    try:
        lines = trail(Path(args.results), args.id)
    except NoLineageError as error:
        print(error)
        return 1
    print("\n".join(lines))
    return 0


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
