"""Command line: ``livertrials validate FOLDER...``, ``livertrials compare-extractions FOLDER...`` and
``livertrials audit ID``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from livertrials.io.project import ProjectError, project_registry
from livertrials.lineage.trails import NoLineageError, trail


def validate_command(args) -> int:
    """Validate study folders without running the workflow; exit 1 if any has errors, 2 if there is no registry."""
    from livertrials.harmonize.study import process_study

    failed = 0
    for folder in args.folders:
        try:
            registry = project_registry(Path(folder), args.registry, args.config)
        except ProjectError as error:
            print(f"livertrials validate: error: {error}", file=sys.stderr)
            return 2
        collection = "comparators" if Path(folder).resolve().parent.name == "comparators" else "studies"
        records, _, issues = process_study(Path(folder), collection, registry)
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            print(issue)
        print(f"{folder}: {'REJECTED' if errors else 'ok'} ({len(errors)} errors, {len(issues) - len(errors)} warnings, "
              f"{len(records)} harmonized records)")
        failed += bool(errors)
    return 1 if failed else 0


def compare_command(args) -> int:
    """Print every disagreement between measurements.csv and measurements.second.csv; exit 1 if there is one."""
    from livertrials.validate.double_extraction import comparison_lines

    try:
        registry = project_registry(Path(args.folders[0]), args.registry, args.config)
    except ProjectError as error:
        if args.registry or args.config:
            print(f"livertrials compare-extractions: error: {error}", file=sys.stderr)
            return 2
        registry = None
        print(f"livertrials compare-extractions: {error}; outcomes, statistics and units are compared as written",
              file=sys.stderr)
    lines, disagreements = comparison_lines([Path(f) for f in args.folders], registry)
    print("\n".join(lines))
    return 1 if disagreements else 0


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
    validate.add_argument("--registry", help="outcome registry (outcomes.yaml; interventions.yaml beside it); default: "
                          "the `registry` of --config or of the project's config/config.yaml")
    validate.add_argument("--config", help="config file whose `registry` is used, relative to its project root (the "
                          "folder holding config/); default: config/config.yaml in the working directory or above the study folder")
    validate.set_defaults(func=validate_command)
    compare = sub.add_parser("compare-extractions", help="compare measurements.csv with a second extractor's "
                             "measurements.second.csv (double extraction): print every disagreement")
    compare.add_argument("folders", nargs="+")
    compare.add_argument("--registry", help="outcome registry used to read outcomes, statistics and units (as for validate)")
    compare.add_argument("--config", help="config file whose `registry` is used (as for validate)")
    compare.set_defaults(func=compare_command)
    audit = sub.add_parser("audit", help="print the full trail of a result id down to the printed source sentences")
    audit.add_argument("id")
    audit.add_argument("--results", default="results")
    audit.set_defaults(func=audit_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
