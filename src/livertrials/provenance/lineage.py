"""Lineage of the whole run and the files it consists of: the harmonize and synthesis edges combined into
``results/provenance/lineage.parquet`` (rule provenance_lineage), the outputs of the workflow's rules, its own
files, and which study an input file belongs to."""

from __future__ import annotations

from pathlib import Path

from livertrials.lineage.records import LINEAGE, lineage_pandas_metadata


def combine_lineage(paths: list[Path], out: Path, metadata: dict[str, str] | None = None) -> int:
    """Concatenate lineage tables (harmonize edges, then synthesis edges) in order, one row group at a time (at
    10,000 studies the edges run to millions); returns the edge count."""
    import pyarrow.parquet as pq

    from livertrials.io.tables import write_batches

    def row_groups():
        for path in paths:
            file = pq.ParquetFile(path)
            for group in range(file.num_row_groups):
                yield file.read_row_group(group).select(LINEAGE.names).cast(LINEAGE)

    schema = LINEAGE.with_metadata({b"pandas": lineage_pandas_metadata()})
    return write_batches(row_groups(), out, schema, metadata)


def rule_outputs(rules, skip: set[str], **wildcards) -> list[str]:
    """Every output path of the workflow's rules except those named in ``skip``; an output with wildcards is
    expanded over ``wildcards`` (e.g. shard=[0, 1, ...]) and left out if some wildcard remains."""
    import itertools
    import re

    found = set()
    for rule in rules:
        if rule.name in skip:
            continue
        for path in map(str, rule.output):
            names = sorted(set(re.findall(r"{(\w+)", path)))
            if not names:
                found.add(path)
            elif all(n in wildcards for n in names):
                for values in itertools.product(*(wildcards[n] for n in names)):
                    found.add(path.format(**dict(zip(names, values))))
    return sorted(found)


def workflow_files(root: Path = Path(".")) -> list[str]:
    """The workflow's own files: Snakefile, workflow/ (rules, schemas, report captions), scripts/*.py and the
    conda environment, as paths under ``root`` (pass ``workflow.basedir``: with ``snakemake -d OTHER`` the
    working directory holds the data, not the workflow)."""
    found = [root / "Snakefile", root / "environment.yml", *(root / "workflow").rglob("*"), *(root / "scripts").glob("*.py")]
    return sorted(str(p) for p in found if p.is_file() and "__pycache__" not in p.parts)


def study_of(path: str, config: dict) -> tuple[str, str] | None:
    """(collection, study id) of an input file inside a study folder, else None."""
    parent = Path(path).parent
    for collection, key in (("studies", "studies_dir"), ("comparators", "comparators_dir")):
        if parent.parent == Path(config[key]):
            return collection, parent.name
    return None
