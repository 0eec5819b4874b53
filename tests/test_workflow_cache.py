"""End to end: a rebuild after an edit, served partly from the cache, equals a cold build of the edited corpus.

The living-review loop (docs/cache.md): build the shipped corpus, change one printed number in one study,
damage one entry of every cache namespace, rebuild. Every file under results/ must be byte-identical to a cold
build (new folder, empty cache) of the edited corpus, apart from what describes the run rather than the data:
logs, the run history and the change report made from it, the RO-Crate and the manifest's run times. The rebuild
must have reused most entries and rebuilt the damaged ones.
"""

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, copy_project

from livertrials.harmonize.shards import shard_count, shard_of
from livertrials.io.cache import CHECKSUM_BYTES

pytestmark = pytest.mark.slow

RUN_DESCRIPTIONS = ("cache/", "logs/", "provenance/history/", "provenance/ro-crate/", "provenance/changes.",
                    "provenance/manifest.json")
EDITED_STUDY = "Sharma2020"   # a controlled trial whose follow-up means are pooled


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                             "-c2", *args], cwd=workdir, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def edit_one_number(study: Path) -> str:
    """Change the first printed follow-up mean of the study's measurements.csv in its last digit (a pooled number);
    returns the row id."""
    path = study / "measurements.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    target = next(r for r in rows if r["statistic"] == "mean" and r["timepoint"] != "baseline" and r["value"][-1].isdigit())
    last = int(target["value"][-1])
    target["value"] = target["value"][:-1] + str((last + 1) % 10)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target["row_id"]


def files(results: Path) -> dict[str, bytes]:
    return {p.relative_to(results).as_posix(): p.read_bytes() for p in results.rglob("*")
            if p.is_file() and not p.relative_to(results).as_posix().startswith(RUN_DESCRIPTIONS)}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    living = copy_project(tmp_path_factory.mktemp("living"), ("config", "resources"))
    snakemake(living)
    edit_one_number(living / "resources" / "studies" / EDITED_STUDY)
    damaged = []
    # every namespace whose step reruns after the edit (the other harmonization shards do not: their entries
    # would never be read)
    studies = [p for p in (living / "resources" / "studies").iterdir() if p.is_dir()]
    comparators = [p for p in (living / "resources" / "comparators").iterdir() if p.is_dir()]
    shards = shard_count("auto", len(studies) + len(comparators))
    rerun = f"studies/{shard_of(EDITED_STUDY, shards)}"
    for namespace in sorted({p.parent.parent for p in (living / "results" / "cache").rglob("*") if p.is_file()}):
        name = namespace.relative_to(living / "results" / "cache").as_posix()
        if name.startswith("studies/") and name != rerun:
            continue
        entry = next(p for p in namespace.rglob("*") if p.is_file())
        entry.write_bytes(entry.read_bytes()[:-7])
        damaged.append((name, entry))
    snakemake(living)
    cold = copy_project(tmp_path_factory.mktemp("cold"), ())
    for part in ("config", "resources"):
        subprocess.run(["cp", "-r", str(living / part), str(cold / part)], check=True)
    snakemake(cold)
    return living, cold, damaged


def test_a_rebuild_after_an_edit_is_byte_identical_to_a_cold_build(builds):
    living, cold, _ = builds
    rebuilt, fresh = files(living / "results"), files(cold / "results")
    assert sorted(rebuilt) == sorted(fresh)
    differ = [name for name in fresh if rebuilt[name] != fresh[name]]
    assert differ == []
    # the manifest differs in its run times only
    run_free = [{k: v for k, v in json.loads((b / "results/provenance/manifest.json").read_text()).items() if k != "run"}
                for b in (living, cold)]
    assert run_free[0] == run_free[1]


def test_the_edit_reached_the_outputs(builds):
    living, _, _ = builds
    changes = (living / "results" / "provenance" / "changes.md").read_text(encoding="utf-8")
    assert EDITED_STUDY in changes


def test_the_rebuild_reused_the_cache_and_rebuilt_every_damaged_entry(builds):
    living, _, damaged = builds
    assert {"pools", "forests", "report"} <= {name.split("/")[0] for name, _ in damaged}
    logs = "".join(p.read_text(encoding="utf-8") for p in (living / "results" / "logs").rglob("*.log"))
    # an entry the rebuild asked for was found damaged, deleted and written again (intact); one it no longer
    # needed (the edit changed its key) was pruned: none survives damaged
    rebuilt = [entry for _, entry in damaged if entry.exists()]
    assert all(hashlib.sha256(e.read_bytes()[CHECKSUM_BYTES:]).digest() == e.read_bytes()[:CHECKSUM_BYTES]
               for e in rebuilt)
    assert logs.count("damaged entry") == len(rebuilt) >= len(damaged) - 2
    pools = next(line for line in logs.splitlines() if line.startswith("cache pools:"))
    reused, computed = (int(pools.split()[i]) for i in (2, 4))
    assert reused > 10 * computed > 0
