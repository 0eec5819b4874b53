"""The bad-input corpus (tests/bad_inputs/): every malformed study folder is rejected, never crashes.

Each case folder is the clean base study with ONE defect; tests/bad_inputs/expected.yaml
(written by tests/bad_inputs/make_corpus.py) names the issue validation must report:
rule, column, row (line in the file, 1 = header; null = the whole file), the file and a
substring of the message. Harmless oddities (byte-order mark, CRLF) must be accepted.
Cases with ``severity: warning`` are built (the numbers are kept and flagged) and must
carry that warning. Some cases hold a symbolic link or a folder in place of a study file.
The oversize file and the two-folders-one-id check are built here in tmp_path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from livertrials.harmonize.shards import build_shard, merge_shards
from livertrials.harmonize.study import process_study
from livertrials.io.extraction import FILE_SIZE_LIMIT
from livertrials.io.registry import load_registry
from livertrials.io.tables import read_table

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
EXPECTED: dict[str, dict] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
BAD = [name for name, e in EXPECTED.items() if not e.get("accept") and e.get("severity", "error") == "error"]
WARNED = [name for name, e in EXPECTED.items() if e.get("severity") == "warning"]
ACCEPTED = [name for name, e in EXPECTED.items() if e.get("accept") and name != "base_valid"]
STUDY_FILES = {"study.yaml", "measurements.csv", "patients.csv"}
PWNED = Path("/tmp/pwned")


@pytest.fixture(scope="module")
def registry():
    return load_registry(REGISTRY_PATH)


def _make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ inside the corpus
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


def _copy_base(target: Path) -> Path:
    """A copy of the clean base study under target, its id set to target's folder name."""
    shutil.copytree(CORPUS / "base_valid", target)
    study = target / "study.yaml"
    study.write_text(study.read_text(encoding="utf-8").replace("id: base_valid\n", f"id: {target.name}\n", 1), encoding="utf-8")
    return target


def _assert_readable(issues) -> None:
    """Every issue names its file, renders as one line, and none is a crash."""
    for issue in issues:
        text = str(issue)
        assert "Traceback" not in text and "Traceback" not in issue.message, text
        assert issue.rule != "internal error", text
        assert "\n" not in text, text
        assert Path(issue.file).name in STUDY_FILES, text
        assert Path(issue.file).name in text, text
        assert issue.severity in {"error", "warning"}, text


def _tree(folder: Path) -> dict[str, tuple]:
    """Every entry under folder, links not followed: a link as its target, a file as its bytes, a folder as such."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            entries[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            entries[rel] = ("folder",)
        else:
            entries[rel] = ("file", path.read_bytes())
    return entries


def _matching(issues, expected: dict, severity: str) -> list:
    return [
        i for i in issues
        if i.severity == severity
        and i.rule == expected["rule"]
        and i.column == (expected["column"] or "")
        and i.row == expected["row"]
        and expected["message"] in i.message
        and Path(i.file).name == expected["file"]
    ]


def _assert_shown(issues, expected: dict) -> None:
    for issue in issues:
        text = str(issue)
        assert expected["file"] in text and expected["rule"] in text and expected["message"] in text
        if expected["row"] is not None:
            assert f"line {expected['row']}" in text
        if expected["column"]:
            assert f"column '{expected['column']}'" in text


def _comparable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in {"record_id", "study_id"}} for r in records]


def test_corpus_has_enough_cases():
    assert len(BAD) >= 180 and len(WARNED) >= 10
    assert {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))} == set(EXPECTED)


def test_corpus_is_reproducible(tmp_path):
    """The committed folders are exactly what make_corpus.py writes (bytes included: BOM, CRLF, Latin-1)."""
    expected = _make_corpus().write_corpus(tmp_path)
    assert expected == EXPECTED
    for name in EXPECTED:
        assert _tree(tmp_path / name) == _tree(CORPUS / name), name
    assert (tmp_path / "expected.yaml").read_bytes() == (CORPUS / "expected.yaml").read_bytes()


def test_clean_base_study_has_no_errors(registry):
    records, characteristics, issues = process_study(CORPUS / "base_valid", "studies", registry)
    assert [str(i) for i in issues if i.severity == "error"] == []
    assert records and characteristics
    _assert_readable(issues)


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_rejected_with_a_located_issue(name, registry):
    expected = EXPECTED[name]
    records, characteristics, issues = process_study(CORPUS / name, "studies", registry)  # must not raise
    errors = [i for i in issues if i.severity == "error"]
    report = "\n".join(str(i) for i in issues)
    assert errors, f"{name}: no error reported"
    assert records == [] and characteristics == [], f"{name}: the study was accepted"
    _assert_readable(issues)
    matches = _matching(errors, expected, "error")
    assert matches, f"{name}: expected {expected}, got:\n{report}"
    _assert_shown(matches, expected)


@pytest.mark.parametrize("name", WARNED)
def test_questionable_input_is_built_with_a_located_warning(name, registry):
    """The numbers are kept (and flagged downstream), and validation already says why, where."""
    expected = EXPECTED[name]
    records, characteristics, issues = process_study(CORPUS / name, "studies", registry)
    report = "\n".join(str(i) for i in issues)
    assert [i for i in issues if i.severity == "error"] == [], f"{name}: rejected:\n{report}"
    assert records and characteristics, f"{name}: nothing built"
    _assert_readable(issues)
    matches = _matching(issues, expected, "warning")
    assert matches, f"{name}: expected {expected}, got:\n{report}"
    _assert_shown(matches, expected)


@pytest.mark.parametrize("name", ACCEPTED)
def test_harmless_oddities_are_accepted(name, registry):
    """A byte-order mark or CRLF line endings change nothing: same records as the clean base."""
    raw = {f: (CORPUS / name / f).read_bytes() for f in ("study.yaml", "measurements.csv")}
    assert any(b.startswith(b"\xef\xbb\xbf") or b"\r\n" in b for b in raw.values()), "the oddity is missing"
    records, _, issues = process_study(CORPUS / name, "studies", registry)
    assert [str(i) for i in issues if i.severity == "error"] == []
    base, _, _ = process_study(CORPUS / "base_valid", "studies", registry)
    assert _comparable(records) == _comparable(base)


@pytest.mark.parametrize("name", [n for n in BAD if "python_tag" in n])
def test_python_tag_is_refused_not_executed(name, registry):
    assert "!!python/object/apply:os.system" in (CORPUS / name / "study.yaml").read_text(encoding="utf-8")
    before = PWNED.stat().st_mtime_ns if PWNED.exists() else None
    records, _, issues = process_study(CORPUS / name, "studies", registry)
    after = PWNED.stat().st_mtime_ns if PWNED.exists() else None
    assert after == before, "the YAML tag was executed"
    assert records == [] and any(i.rule == "valid YAML" for i in issues)


def test_file_over_size_limit_is_refused(tmp_path, registry):
    folder = _copy_base(tmp_path / "Huge")
    measurements = folder / "measurements.csv"
    line = measurements.read_text(encoding="utf-8").splitlines()[-1] + "\n"
    with open(measurements, "a", encoding="utf-8", newline="") as handle:
        handle.write(line * (FILE_SIZE_LIMIT // len(line) + 2))
    assert measurements.stat().st_size > FILE_SIZE_LIMIT
    records, characteristics, issues = process_study(folder, "studies", registry)
    assert records == [] and characteristics == []
    _assert_readable(issues)
    assert any(i.rule == "file size limit" and f"larger than {FILE_SIZE_LIMIT // 2**20} MiB" in i.message and i.severity == "error"
               and Path(i.file).name == "measurements.csv" for i in issues), [str(i) for i in issues]


@pytest.mark.parametrize("first, second", [("Dup", "Dup"), ("Dup", "dup")])
def test_same_study_id_in_two_collections(tmp_path, first, second):
    """Two folders with one id (ignoring case) are each valid alone; merge_shards rejects both."""
    folders = [_copy_base(tmp_path / "studies" / first), _copy_base(tmp_path / "comparators" / second)]
    shards = []
    for number, (folder, collection) in enumerate(zip(folders, ["studies", "comparators"])):
        shard = tmp_path / f"shard{number}"
        shard.mkdir()
        build_shard([folder], [collection], REGISTRY_PATH, shard)
        alone = read_table(shard / "issues.parquet")
        assert alone.empty or not (alone["severity"] == "error").any()
        assert not read_table(shard / "harmonized.parquet").empty
        shards.append(shard)
    merged = tmp_path / "merged"
    outputs = {name: merged / f"{name}.parquet" for name in ("harmonized", "characteristics", "issues", "lineage")}
    outputs.update(summary=merged / "summary.json", report=merged / "report.txt")
    merge_shards(shards, outputs)
    issues = read_table(outputs["issues"])
    duplicate = issues[issues["rule"] == "unique study id"]
    assert sorted(duplicate["study"]) == sorted([first, second])
    assert set(duplicate["file"]) == {"studies", "comparators"}
    assert (duplicate["severity"] == "error").all() and (duplicate["column"] == "id").all()
    assert duplicate["message"].str.contains("same id").all()
    assert read_table(outputs["harmonized"]).empty
    assert set(json.loads(outputs["summary"].read_text())["rejected_studies"]) == {first, second}
    assert "unique study id" in outputs["report"].read_text()
