"""Provenance: row-level lineage, run manifest, audit trails, RO-Crate export, deterministic rebuilds and the
living-review change report.

The fast tests run the synthesis and the change report on small crafted tables. The slow ones build the
workflow in a temporary copy of the project (as tests/test_workflow.py does), once more in a second copy to
prove that a clean rebuild gives byte-identical results, and then add a study to the first copy to check that
the change report names it and the pooled rows it moved.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, copy_project
from test_synthesis import TOY, toy, two_arm

import livertrials
from livertrials import cli
from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, to_table
from livertrials.lineage.records import lineage_table
from livertrials.lineage.run_info import MANIFEST_KEY, PACKAGE_ROOT
from livertrials.lineage.trails import Auditor, NoLineageError
from livertrials.provenance import changes, crate
from livertrials.provenance import manifest as provenance_manifest
from livertrials.synthesis.comparators import comparators_table
from livertrials.synthesis.comparisons import build_comparisons
from livertrials.synthesis.lineage import synthesis_lineage
from livertrials.synthesis.pooling import pool_comparisons
from livertrials.synthesis.run import synthesize
from livertrials.synthesis.settings import Settings
from livertrials.synthesis.windows import window_report

# results/ files that legitimately differ between two builds: they record when the run happened
# (the manifest, its copy in the history snapshot, the crate made from it) or how long jobs took (logs).
TIMED = ("logs/", "provenance/ro-crate/", "provenance/history/")
NEW_STUDY = "ZGXDYX-COPY2026"
TEMPLATE_STUDY = "ZGXDYX-BMSC-HA"   # pools with other studies (albumin month 6, within-arm change)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- fast: synthesis lineage and change report

def synthesize_toy(tmp_path, studies=TOY, **kw) -> dict[str, pd.DataFrame]:
    records, chars = [], []
    for s in studies:
        r, c = two_arm(*s, **kw)
        records += r
        chars += c
    harmonized, characteristics = tmp_path / "h.parquet", tmp_path / "c.parquet"
    pq.write_table(to_table(records, HARMONIZED), harmonized)
    pq.write_table(to_table(chars, CHARACTERISTICS), characteristics)
    outputs = {n: tmp_path / f"{n}.parquet" for n in ("comparisons", "windows", "pooled", "comparators", "unmatched",
                                                       "lineage")}
    synthesize(harmonized, characteristics, ROOT / "resources" / "registry" / "outcomes.yaml", {"longest_follow_up": False}, outputs,
                         {"livertrials.manifest": "{}"})
    return {name: pd.read_parquet(path) for name, path in outputs.items()}


def test_every_synthesis_row_has_an_id_and_lineage_edges(tmp_path):
    tables = synthesize_toy(tmp_path)
    lineage = tables["lineage"]
    for name, key in (("comparisons", "comparison_id"), ("pooled", "pooled_id"), ("windows", "window_row_id")):
        ids = tables[name][key]
        assert ids.notna().all() and ids.is_unique, name
        assert set(ids) <= set(lineage["output_id"]), name
    comparisons = tables["comparisons"].set_index("comparison_id")
    # comparison -> its harmonized records, each edge saying which side it is on and how the effect was made
    for comparison_id, edges in lineage[lineage["output_table"] == "synthesis/comparisons"].groupby("output_id"):
        assert set(edges["input_id"]) == set(comparisons.at[comparison_id, "record_ids"])
        assert (edges["step"] == "compare").all() and (edges["input_kind"] == "harmonized_record").all()
        assert edges["transformation"].str.contains("side 1").any() and edges["transformation"].str.contains("side 2").any()
    md = lineage[lineage["transformation"].str.contains("MD = mean_1 - mean_2")]
    assert len(md) and md["transformation"].str.contains("n 20, mean 32, SD 5").any()
    # pooled -> the comparisons pooled, with the window, the method and the weight
    pooled = tables["pooled"].set_index("pooled_id")
    for pooled_id, edges in lineage[lineage["output_table"] == "synthesis/pooled"].groupby("output_id"):
        used = edges[edges["step"] == "pool"]
        assert list(used["input_id"]) == list(pooled.at[pooled_id, "comparison_ids"])
        method = pooled.at[pooled_id, "method"]
        assert used["transformation"].str.contains("window month 3").all()
        assert used["transformation"].str.contains(method if pooled.at[pooled_id, "pooled"] else "k = 1").all()
        assert used["transformation"].str.contains("weight").all()


def test_left_out_comparisons_are_edges_with_the_reason(tmp_path):
    flagged = [TOY[0], TOY[1], ("S3", 31.0, 6.0, 30, 31.5, 5.5, 28)]
    tables = synthesize_toy(tmp_path, studies=flagged)
    lineage, pooled = tables["lineage"], tables["pooled"]
    # leave-one-out (k = 3): the omitted study's comparison is an "exclude" edge of each row
    loo = pooled[(pooled["analysis"] == "leave_one_out") & (pooled["measure"] == "MD")]
    assert len(loo) == 3
    for row in loo.itertuples():
        out = lineage[(lineage["output_id"] == row.pooled_id) & (lineage["step"] == "exclude")]
        assert list(out["study_id"]) == [row.omitted_study_id]
        assert out["transformation"].str.contains(f"study {row.omitted_study_id} left out").all()
    # main: nothing left out here
    main = pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "MD")]
    assert not lineage[lineage["output_id"].isin(main["pooled_id"]) & (lineage["step"] == "exclude")].size


def test_a_timepoint_further_from_the_window_is_an_exclusion(tmp_path):
    from test_synthesis import char, frames, rec

    records = [rec("T", "cells", "intervention", tp=tp, days=d, mean=m, sd=4.0) for tp, d, m in
               (("week 10", 70.0, 33.0), ("week 13", 91.0, 34.0))]
    records += [rec("T", "control", "control", tp=tp, days=d, mean=30.0, sd=4.0) for tp, d in (("week 10", 70.0), ("week 13", 91.0))]
    h, c = frames(records, [char("T", "cells", "intervention"), char("T", "control", "control")])
    comparisons, reasons = build_comparisons(h, c, Settings.default())
    settings = Settings.default()
    tables = {"comparisons": comparisons, "pooled": pool_comparisons(comparisons, settings)}
    tables["windows"] = window_report(h, comparisons, reasons, settings)
    tables["comparators"] = comparators_table(h, c, tables["pooled"], settings)
    edges = pd.DataFrame(synthesis_lineage(h, tables, settings))
    excluded = edges[edges["step"] == "exclude"]
    assert len(excluded) and excluded["transformation"].str.contains("'week 13' is closer to the window's nominal day").all()
    week10 = set(comparisons.loc[comparisons["timepoint_text"] == "week 10", "comparison_id"])
    assert set(excluded["input_id"]) <= week10


def test_pooled_ids_are_stable_when_a_study_is_added():
    settings = Settings.default()
    before = pool_comparisons(toy(studies=TOY[:2])[0], settings)
    after = pool_comparisons(toy()[0], settings)
    assert before["pooled_id"].is_unique and after["pooled_id"].is_unique
    key = ["analysis", "analysis_name", "measure", "method", "test"]
    merged = before.merge(after, on=key, suffixes=("_before", "_after"))
    main = merged[merged["analysis"] == "main"]
    assert len(main) and (main["pooled_id_before"] == main["pooled_id_after"]).all()
    assert (main["k_before"] == 2).all() and (main["k_after"] == 3).all()


def manifest_of(inputs: dict, end: str = "2026-01-01T00:00:00+00:00") -> dict:
    return {"run": {"end": end}, "inputs": inputs, "config": {"a": 1}, "packages": {"pandas": "2"}, "git": {"commit": None},
            "configfiles": {}, "workflow_files": {}}


def test_change_report_maps_changed_study_files_to_the_pooled_rows_they_moved():
    config = {"studies_dir": "resources/studies", "comparators_dir": "resources/comparators"}
    previous = manifest_of({"resources/studies/S1/study.yaml": "a", "resources/studies/S2/measurements.csv": "b",
                            "resources/registry/outcomes.yaml": "r"})
    current = manifest_of({"resources/studies/S1/study.yaml": "a", "resources/studies/S2/measurements.csv": "B",
                           "resources/studies/S3/study.yaml": "c", "resources/registry/outcomes.yaml": "r"})
    settings = Settings.default()
    before = pool_comparisons(toy(studies=TOY[:2])[0], settings)
    now = pool_comparisons(toy()[0], settings)
    report = changes.change_report(previous, current, before, now, config)
    studies = {s["study_id"]: s["change"] for s in report["inputs"]["studies"]}
    assert studies == {"S2": "changed", "S3": "added"}
    assert report["inputs"]["other_inputs"] == []
    moved = report["pooled"]["moved"]
    assert moved and all({"S2", "S3"} == {c["study_id"] for c in m["caused_by"]} for m in moved)
    reml = [m for m in moved if m["analysis"] == "main" and m["method"] == "REML" and m["test"] == "z" and m["measure"] == "MD"]
    assert len(reml) == 1 and reml[0]["before"]["k"] == 2 and reml[0]["now"]["k"] == 3
    assert reml[0]["studies_added"] == ["S3"]
    assert reml[0]["change"]["estimate"] == pytest.approx(reml[0]["now"]["estimate"] - reml[0]["before"]["estimate"])
    text = changes.change_markdown(report, settings)
    assert "study **S3** (studies) added" in text and "study **S2** (studies) changed" in text
    assert "| albumin | month 3 | MD | between_arms |" in text
    # nothing changed: nothing moved
    same = changes.change_report(current, current, now, now, config)
    assert same["pooled"]["moved"] == [] and same["pooled"]["unchanged"] == len(now)
    assert changes.change_report(None, current, None, now, config)["baseline"] is True


def test_snapshot_history_keeps_the_last_runs(tmp_path):
    history = tmp_path / "history"
    manifest, pooled, report = tmp_path / "manifest.json", tmp_path / "pooled.parquet", tmp_path / "changes.md"
    pooled.write_bytes(b"p")
    report.write_text("r")
    for i in range(3):
        manifest.write_text(json.dumps({"run": {"end": f"2026-01-0{i + 1}T00:00:00+00:00"}}))
        changes.save_snapshot(history, {"manifest.json": manifest, "pooled.parquet": pooled}, [report],
                              f"2026-01-0{i + 1}T00:00:00+00:00", keep=2)
    assert json.loads((history / "previous" / "manifest.json").read_text())["run"]["end"].startswith("2026-01-03")
    assert [p.name for p in sorted((history / "runs").iterdir())] == ["2026-01-02T000000Z", "2026-01-03T000000Z"]
    assert not [p for p in history.iterdir() if p.name.startswith(".")]


def test_a_change_report_made_again_for_the_same_run_compares_with_the_run_before(tmp_path):
    """A kill after save_snapshot but before Snakemake records the job reruns it: it must not compare the run
    with itself (the killed-and-resumed build would then report differently from an uninterrupted one)."""
    history = tmp_path / "history"
    manifest, pooled = tmp_path / "manifest.json", tmp_path / "pooled.parquet"
    pd.DataFrame({"pooled_id": ["a"]}).to_parquet(pooled)
    runs = [{"run": {"end": f"2026-01-0{i}T00:00:00+00:00"}} for i in (1, 2)]

    def save(run):
        manifest.write_text(json.dumps(run))
        changes.save_snapshot(history, {"manifest.json": manifest, "pooled.parquet": pooled}, [], run["run"]["end"], keep=5)

    assert changes.read_snapshot(history, runs[0]) == (None, None)          # the first run is the baseline
    save(runs[0])
    assert changes.read_snapshot(history, runs[0]) == (None, None)          # ... also when made again
    assert changes.read_snapshot(history, runs[1])[0] == runs[0]
    save(runs[1])
    assert changes.read_snapshot(history, runs[1])[0] == runs[0]            # made again: the run before
    save(runs[1])                                                           # saved again: earlier/ stays
    assert changes.read_snapshot(history, runs[1])[0] == runs[0]
    assert changes.read_snapshot(history, {"run": {"end": "later"}})[0] == runs[1]
    shutil.rmtree(history / "previous")                                     # killed between the renames
    assert changes.read_snapshot(history, {"run": {"end": "later"}})[0] == runs[0]


def test_run_window_counts_only_outputs_rebuilt_since_the_previous_run(tmp_path):
    import os

    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text("o")
    new.write_text("n")
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(new, (2_000_000, 2_000_000))
    window = provenance_manifest.run_window([old, new], provenance_manifest._iso(1_500_000), now=2_000_100)
    assert window["start"] == provenance_manifest._iso(2_000_000) and window["end"] == provenance_manifest._iso(2_000_100)
    assert window["outputs_rebuilt"] == 1
    first = provenance_manifest.run_window([old, new], None, now=2_000_100)
    assert first["start"] == provenance_manifest._iso(1_000_000) and first["outputs_rebuilt"] == 2


def test_the_source_digest_covers_the_whole_package():
    assert PACKAGE_ROOT == Path(livertrials.__file__).resolve().parent


def test_an_id_without_lineage_raises_and_the_audit_command_says_so(tmp_path, capsys):
    results = tmp_path / "results"
    with pytest.raises(NoLineageError) as error:
        Auditor(results).trail("x")
    assert str(error.value) == f"No lineage found under {results}: run the workflow first."
    (results / "provenance").mkdir(parents=True)
    pq.write_table(lineage_table([{"output_id": "r1", "input_id": "S:1", "input_kind": "extraction_row", "step": "harmonize",
                                   "transformation": "as printed", "file": "m.csv", "line": 2, "statistic": "mean",
                                   "value": "3", "unit": "g/L", "quote": "q", "source": "s"}]),
                   results / "provenance" / "lineage.parquet")
    assert Auditor(results).trail("r1")[1:] == ["  <- [harmonize: as printed]", "     row S:1: mean = 3 g/L (m.csv, line 2)",
                                                 '       quote: "q"', "       source: s"]
    assert cli.main(["audit", "r1", "--results", str(results)]) == 0
    missing = f"nope: no such id in {results}/provenance (ids are listed in the record_id, comparison_id and pooled_id columns)."
    capsys.readouterr()
    with pytest.raises(NoLineageError, match="no such id"):
        Auditor(results).trail("nope", max_lines=1)
    assert cli.main(["audit", "nope", "--results", str(results)]) == 1
    assert capsys.readouterr().out == missing + "\n"


# ---------------------------------------------------------------- slow: the workflow in temporary copies

def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "-c2", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=1200)


def result_hashes(work: Path) -> dict[str, str]:
    results = work / "results"
    return {p.relative_to(results).as_posix(): sha(p) for p in sorted(results.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A clean build of a copy of the project, and the hashes of its results right after it."""
    work = copy_project(tmp_path_factory.mktemp("provenance_a"))
    run = snakemake(work)
    assert run.returncode == 0, run.stderr[-4000:]
    return work, result_hashes(work)


def read_crate(work: Path) -> tuple[dict, dict]:
    metadata = json.loads((work / "results/provenance/ro-crate/ro-crate-metadata.json").read_text())
    return metadata, {e["@id"]: e for e in metadata["@graph"]}


def ids(value) -> list[str]:
    return [v["@id"] for v in (value if isinstance(value, list) else [value])]


@pytest.mark.slow
def test_lineage_reaches_the_printed_numbers_from_every_pooled_row(built):
    work, _ = built
    lineage = pd.read_parquet(work / "results/provenance/lineage.parquet")
    harmonize = pd.read_parquet(work / "results/provenance/lineage_harmonize.parquet")
    synthesis_edges = pd.read_parquet(work / "results/provenance/lineage_synthesis.parquet")
    assert len(lineage) == len(harmonize) + len(synthesis_edges)
    records = pd.read_parquet(work / "results/harmonized/outcomes.parquet")
    comparisons = pd.read_parquet(work / "results/synthesis/comparisons.parquet")
    pooled = pd.read_parquet(work / "results/synthesis/pooled.parquet")
    comparators = pd.read_parquet(work / "results/synthesis/comparators.parquet")
    outputs = set(lineage["output_id"])
    for frame, key in ((records, "record_id"), (comparisons, "comparison_id"), (pooled, "pooled_id"),
                       (comparators, "comparator_id")):
        assert frame[key].is_unique and set(frame[key]) <= outputs, key
    children = lineage.groupby("output_id")

    def leaves(node: str, seen=frozenset()) -> set[str]:
        if node not in children.groups:
            return set()
        edges = children.get_group(node)
        found = set(edges.loc[edges["input_kind"].isin(["extraction_row", "patient_row"]), "input_id"])
        for child in edges.loc[~edges["input_kind"].isin(["extraction_row", "patient_row"]) & (edges["step"] != "exclude"),
                               "input_id"]:
            found |= leaves(child, seen | {node})
        return found

    for pooled_id in pooled["pooled_id"]:
        assert leaves(pooled_id), pooled_id
    quoted = lineage[lineage["input_kind"] == "extraction_row"]
    assert quoted["quote"].notna().all() and quoted["file"].notna().all()
    assert (lineage["step"] == "exclude").any()
    assert lineage["line"].dtype == "Int64"   # line numbers stay integers beside the synthesis edges


@pytest.mark.slow
def test_manifest_json_and_the_time_free_manifest_in_every_parquet(built):
    work, _ = built
    manifest = json.loads((work / "results/provenance/manifest.json").read_text())
    assert {"run", "inputs", "config", "packages", "snakemake", "git", "outputs", "configfiles", "workflow_files",
            "livertrials_source_sha256"} <= set(manifest)
    assert manifest["run"]["start"] <= manifest["run"]["end"]
    assert manifest["git"] == {"commit": None, "dirty": None}   # a copy outside git
    assert manifest["snakemake"] and manifest["packages"]["rocrate"]
    for path, digest in {**manifest["inputs"], **manifest["outputs"], **manifest["configfiles"]}.items():
        assert sha(work / path) == digest, path
    assert "results/synthesis/pooled.parquet" in manifest["outputs"]
    assert any(p.startswith("resources/studies/") for p in manifest["inputs"])
    time_free = {k: manifest[k] for k in ("config", "packages", "python", "livertrials_source_sha256", "git")}
    parquet = [p for p in (work / "results").rglob("*.parquet")
               if not p.relative_to(work / "results").as_posix().startswith(("shards/", *TIMED))]
    assert len(parquet) >= 10
    described = {**manifest["inputs"], **manifest["outputs"]}
    for path in parquet:
        embedded = json.loads(pq.read_schema(path).metadata[MANIFEST_KEY.encode()])
        assert {k: v for k, v in embedded.items() if k != "inputs"} == time_free, path
        # the files this output was made from, each with the digest the run manifest gives it
        assert embedded["inputs"] and all(described.get(f) == digest for f, digest in embedded["inputs"].items()), path
    synthesis = json.loads(pq.read_schema(work / "results/synthesis/pooled.parquet").metadata[MANIFEST_KEY.encode()])
    assert "results/harmonized/outcomes.parquet" in synthesis["inputs"]
    assert not any(f.startswith("resources/studies/") for f in synthesis["inputs"])


@pytest.mark.slow
def test_audit_prints_the_whole_trail_of_pooled_comparison_and_record_ids(built, capsys):
    work, _ = built
    results = str(work / "results")
    lineage = pd.read_parquet(work / "results/provenance/lineage.parquet")
    pooled = pd.read_parquet(work / "results/synthesis/pooled.parquet")
    excluded = set(lineage.loc[lineage["step"] == "exclude", "output_id"])
    pooled_id = pooled.loc[(pooled["k"] >= 2) & pooled["pooled_id"].isin(excluded), "pooled_id"].iloc[0]
    assert cli.main(["audit", pooled_id, "--results", results]) == 0
    trail = capsys.readouterr().out
    assert trail.startswith(f"pooled {pooled_id}:")
    assert "[pool: " in trail and "[exclude: left out of this" in trail and "[compare: " in trail
    assert "harmonized record " in trail and "[harmonize: " in trail and "quote: \"" in trail
    assert re.search(r"\.csv, line \d+\)", trail) and not re.search(r"\.csv, line \d+\.0\)", trail)
    comparison_id = pooled.set_index("pooled_id").at[pooled_id, "comparison_ids"][0]
    assert cli.main(["audit", comparison_id, "--results", results]) == 0
    trail = capsys.readouterr().out
    assert trail.startswith(f"comparisons {comparison_id}:") and "quote: \"" in trail
    record_id = lineage.loc[lineage["output_id"] == comparison_id, "input_id"].iloc[0]
    assert cli.main(["audit", record_id, "--results", results]) == 0
    trail = capsys.readouterr().out
    assert trail.startswith(f"harmonized record {record_id}:") and "quote: \"" in trail
    assert cli.main(["audit", "no-such-id", "--results", results]) == 1
    # a length limit abandons a longer trail, and changes nothing in one that fits
    auditor = Auditor(work / "results")
    full = auditor.trail(pooled_id)
    assert auditor.trail(pooled_id, max_lines=len(full)) == full
    assert auditor.trail(pooled_id, max_lines=len(full) // 2) is None
    for ident in [pooled_id, comparison_id, record_id, *pooled["pooled_id"].head(50)]:   # counted without writing
        assert auditor.size(ident) == len(auditor.trail(ident)), ident


@pytest.mark.slow
def test_ro_crate_describes_the_run_with_every_output_and_its_sha256(built):
    work, _ = built
    crate_dir = work / "results/provenance/ro-crate"
    metadata, graph = read_crate(work)
    assert crate.WFRUN_CONTEXT in metadata["@context"]
    descriptor = graph["ro-crate-metadata.json"]
    assert ids(descriptor["about"]) == ["./"]
    root = graph["./"]
    assert root["@type"] == "Dataset"
    assert set(crate.PROFILES) <= set(ids(root["conformsTo"]))
    workflow = graph[ids(root["mainEntity"])[0]]
    assert workflow["@id"] == "Snakefile" and "ComputationalWorkflow" in workflow["@type"]
    assert "snakemake" in ids(workflow["programmingLanguage"])[0]
    actions = [e for e in graph.values() if e.get("@type") == "CreateAction"]
    assert len(actions) == 1
    action = actions[0]
    assert ids(action["instrument"]) == ["Snakefile"] and ids(root["mentions"]) == [action["@id"]]
    manifest = json.loads((work / "results/provenance/manifest.json").read_text())
    assert action["startTime"] == manifest["run"]["start"] and action["endTime"] == manifest["run"]["end"]
    results = set(ids(action["result"]))
    expected = set(manifest["outputs"]) | {f"results/provenance/{n}" for n in ("manifest.json", "changes.md", "changes.json")}
    assert expected <= results
    for path in results:
        entity = graph[path]
        assert entity["sha256"] == sha(work / path) == sha(crate_dir / path), path
        # outputs are hard links, not copies (they are replaced by rename, so a link keeps this run's bytes)
        assert (crate_dir / path).samefile(work / path), path
    objects = set(ids(action["object"]))
    inputs = set(manifest["inputs"])
    folders = [graph[o] for o in objects if graph[o]["@type"] == "Dataset"]
    listed = {p for f in folders for p in ids(f["hasPart"])} | objects
    assert inputs <= listed
    for path in inputs:
        assert graph[path]["sha256"] == sha(work / path), path
        assert not (crate_dir / path).samefile(work / path), path   # inputs may be edited in place: copies
    # every configuration key is a FormalParameter of the workflow, realized by an object of the run
    parameters = {graph[p]["name"]: graph[p] for p in ids(workflow["input"])}
    config = manifest["config"]
    assert set(parameters) == set(config)
    for name, parameter in parameters.items():
        example = graph[ids(parameter["workExample"])[0]]
        assert ids(example["exampleOfWork"]) == [parameter["@id"]]
        if example["@type"] == "PropertyValue":
            value = example["value"]
            assert (value if not isinstance(config[name], (dict, list)) else json.loads(value)) == config[name]


@pytest.mark.slow
def test_a_clean_rebuild_gives_byte_identical_results(built, tmp_path_factory):
    work, first = built
    again = copy_project(tmp_path_factory.mktemp("provenance_b"))
    run = snakemake(again)
    assert run.returncode == 0, run.stderr[-4000:]
    second = result_hashes(again)

    def compared(hashes):
        return {k: v for k, v in hashes.items() if k != "provenance/manifest.json" and not k.startswith(TIMED)}

    a, b = compared(first), compared(second)
    assert set(a) == set(b)
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"differ between two clean builds: {differ}"
    assert any(k.endswith(".parquet") for k in a) and any(k.endswith(".png") for k in a) and any(k.endswith(".svg") for k in a)


@pytest.mark.slow
def test_change_report_names_the_new_study_and_the_pooled_rows_it_moved(built):
    work, _ = built
    source, target = work / "resources/studies" / TEMPLATE_STUDY, work / "resources/studies" / NEW_STUDY
    target.mkdir()
    meta = (source / "study.yaml").read_text(encoding="utf-8")
    (target / "study.yaml").write_text(meta.replace(f"id: {TEMPLATE_STUDY}\n", f"id: {NEW_STUDY}\n", 1), encoding="utf-8")
    with open(source / "measurements.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["row_id"] = "N" + row["row_id"]
        if (row["outcome"], row["timepoint"], row["statistic"], row["arm"]) == ("albumin", "week 24", "mean", "bm_sc"):
            row["value"] = "36.5"   # a different result from the template study
    with open(target / "measurements.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    previous_end = json.loads((work / "results/provenance/manifest.json").read_text())["run"]["end"]
    run = snakemake(work)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads((work / "results/provenance/changes.json").read_text())
    assert report["baseline"] is False and report["previous_run"]["end"] == previous_end
    studies = {s["study_id"]: s for s in report["inputs"]["studies"]}
    assert list(studies) == [NEW_STUDY] and studies[NEW_STUDY]["change"] == "added"
    assert {f["file"] for f in studies[NEW_STUDY]["files"]} == {f"resources/studies/{NEW_STUDY}/study.yaml",
                                                                 f"resources/studies/{NEW_STUDY}/measurements.csv"}
    moved = report["pooled"]["moved"]
    assert moved and all(NEW_STUDY in m["now"]["study_ids"] for m in moved)
    assert all([c["study_id"] for c in m["caused_by"]] == [NEW_STUDY] for m in moved)
    albumin = [m for m in moved if (m["outcome"], m["window"], m["measure"], m["analysis"], m["method"], m["test"])
               == ("albumin", "month 6", "MC", "main", "REML", "z")]
    # one pool per comparison whose experimental side the new study's cell arm is on (cell_vs_control, cell_vs_gcsf)
    assert len(albumin) == 2 and all(a["now"]["k"] == a["before"]["k"] + 1 for a in albumin)
    assert all(a["change"]["estimate"] > 0 for a in albumin)   # the new study's albumin rose more
    text = (work / "results/provenance/changes.md").read_text()
    assert f"study **{NEW_STUDY}** (studies) added" in text
    assert "| albumin | month 6 | MC | within_arm |" in text and f"{NEW_STUDY} (added)" in text
    # this run is now the previous one; the history keeps both runs
    history = work / "results/provenance/history"
    assert json.loads((history / "previous/manifest.json").read_text()) == \
        json.loads((work / "results/provenance/manifest.json").read_text())
    assert len(list((history / "runs").iterdir())) == 2
    dry = snakemake(work, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
