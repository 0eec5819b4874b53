"""Compare two results/ trees: byte-identical, or equal once the code's own identity is set aside.

Set aside: the embedded run manifest (git commit, source digest, run times, file hashes), and module paths
the refactor renamed (livertrials.meta -> livertrials.synthesis.meta) where method texts name the code.
usage: python benchmarks/compare_results.py BEFORE/results AFTER/results

Used to check that a refactor changes no output: build the same inputs with the old and the new code
(snakemake -s OLD/Snakefile -d A; snakemake -s NEW/Snakefile -d B) and compare A/results with B/results.
Exit status 1 if any file differs beyond the code identity.
"""
import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq

SKIP = ("logs/", "provenance/history/", "provenance/ro-crate/")
RENAMES = [("livertrials.meta.", "livertrials.synthesis.meta.")]
RUN_KEYS = {"git", "livertrials_source_sha256", "run", "outputs", "workflow_files", "packages", "inputs", "configfiles"}


def norm_text(s: str) -> str:
    for a, b in RENAMES:
        s = s.replace(a, b)
    s = re.sub(r"[0-9a-f]{40}", "<commit>", s)
    s = re.sub(r"[0-9a-f]{64}", "<sha256>", s)
    s = re.sub(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", s)
    return s


def norm_json(x):
    if isinstance(x, dict):
        return {k: norm_json(v) for k, v in x.items() if k not in RUN_KEYS}
    if isinstance(x, list):
        return [norm_json(v) for v in x]
    if isinstance(x, str):
        return norm_text(x)
    return x


def parquet_equal(a: Path, b: Path) -> bool:
    ta, tb = pq.read_table(a), pq.read_table(b)
    ma = {k: v for k, v in (ta.schema.metadata or {}).items() if k != b"livertrials.manifest"}
    mb = {k: v for k, v in (tb.schema.metadata or {}).items() if k != b"livertrials.manifest"}
    if {k: norm_text(v.decode()) for k, v in ma.items()} != {k: norm_text(v.decode()) for k, v in mb.items()}:
        print("   metadata differs:", a.name, set(ma) ^ set(mb) or [k for k in ma if ma[k] != mb.get(k)])
        return False
    if ta.schema.remove_metadata() != tb.schema.remove_metadata():
        print("   schema differs:", a.name)
        return False
    ra, rb = ta.to_pylist(), tb.to_pylist()
    return norm_json(ra) == norm_json(rb)


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not str(p.relative_to(root)).startswith(SKIP)}


def main(before: str, after: str) -> int:
    A, B = Path(before), Path(after)
    fa, fb = files(A), files(B)
    only = sorted(fa ^ fb)
    same = normalized = 0
    bad = []
    for rel in sorted(fa & fb):
        a, b = A / rel, B / rel
        if a.read_bytes() == b.read_bytes():
            same += 1
            continue
        if rel.endswith(".parquet"):
            ok = parquet_equal(a, b)
        elif rel.endswith(".json"):
            ok = norm_json(json.loads(a.read_text())) == norm_json(json.loads(b.read_text()))
        elif rel.endswith((".html", ".md", ".txt")):
            ok = norm_text(a.read_text()) == norm_text(b.read_text())
        else:
            ok = False
        if ok:
            normalized += 1
        else:
            bad.append(rel)
    print(f"{same} byte-identical, {normalized} equal once code identity is set aside, {len(bad)} differ, "
          f"{len(only)} in one tree only")
    for rel in bad:
        print("  DIFFERS:", rel)
    for rel in only:
        print("  ONLY IN", "before" if rel in fa else "after", rel)
    return 1 if bad or only else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
