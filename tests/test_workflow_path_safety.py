"""Nothing read from an extraction can make the pipeline read or write outside resources/ and results/.

* Study ids and folder names with '..', slashes, absolute paths or spaces are rejected by
  validation (study.yaml id must equal the folder name and match the id pattern); so are
  arm and contrast ids with path characters.
* Path-like text in source, quote, location, note (and the free-text keys of study.yaml)
  is inert: it is kept verbatim and never opened. Every file process_study opens is
  recorded (builtins.open / io.open / os.open / os.stat) and must lie in the study folder.
* A symlink inside a study folder pointing to a file outside (measurements.csv -> a passwd-like
  file): the study is rejected with a clear, located error ("file inside the study folder")
  before the file is read; a link to a folder or a dangling link is a missing file.
  Nothing is written anywhere.
* End to end: the workflow, run on a temporary copy holding such hostile folders, creates
  or changes no file outside results/ and .snakemake/, and every output and log it
  declares is under results/.

YAML tags such as !!python/object/apply are covered by tests/test_validate_bad_inputs.py.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, copy_project, minimal_meta, row, write_study

import livertrials
from livertrials.harmonize.shards import build_shard
from livertrials.harmonize.study import process_study

REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
PACKAGE_DIR = Path(livertrials.__file__).resolve().parent

PATH_TEXTS = [
    "../../etc/passwd",
    "file:///etc/passwd",
    "/etc/passwd",
    "~/.ssh/id_rsa",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "$(touch /tmp/livertrials_pwned)",
    "`touch /tmp/livertrials_pwned`",
    "results/../../outside.txt",
]
PASSWD_LIKE = ("root:x:0:0:root:/root:/bin/bash\n"
               "secret-token-do-not-leak:x:2:2::/nonexistent:/bin/false\n"
               "daemon:x:1:1:daemon,,,:/usr/sbin:/usr/sbin/nologin\n")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def recorded_opens():
    """Record (absolute path, mode) of every file opened or stat-ed from Python while the block runs."""
    opened: list[tuple[str, str]] = []
    real_open, real_os_open, real_stat = io.open, os.open, os.stat

    def record(path, mode):
        if isinstance(path, int):
            return
        opened.append((os.path.abspath(os.fsdecode(os.fspath(path))), mode))

    def fake_open(file, mode="r", *args, **kwargs):
        record(file, mode)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        record(path, "w" if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC) else "r")
        return real_os_open(path, flags, *args, **kwargs)

    def fake_stat(path, *args, **kwargs):
        record(path, "stat")
        return real_stat(path, *args, **kwargs)

    patches = [(builtins, "open", fake_open), (io, "open", fake_open), (os, "open", fake_os_open), (os, "stat", fake_stat)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, fake in patches:
        setattr(module, name, fake)
    try:
        yield opened
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def _inside(path: str, root: Path) -> bool:
    return Path(path) == root or Path(path).is_relative_to(root)


# Python's own code (a lazy import inside a library) is not data read from an extraction
CODE_ROOTS = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
SEARCH_PATH = {os.path.abspath(p) for p in sys.path if p}


def assert_opens_confined(opened, folder: Path) -> None:
    """Every path touched is in the study folder (or the registry / the package's own schema); nothing is written."""
    folder = Path(os.path.abspath(folder))
    allowed = [folder, Path(os.path.abspath(REGISTRY_PATH)), PACKAGE_DIR, *CODE_ROOTS]
    outside = [(p, m) for p, m in opened
               if p not in SEARCH_PATH and not any(_inside(p, root) for root in allowed)]
    assert outside == [], f"opened outside the study folder: {outside}"
    writes = [(p, m) for p, m in opened if m != "stat" and any(c in m for c in "wax+")]
    assert writes == [], f"process_study wrote files: {writes}"
    for path, _ in opened:
        assert "passwd" not in path and "file:" not in path and "%2e" not in path, path


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """{relative path: (kind, size, mtime_ns, sha256 or link target)} of every entry under root, except the skipped tops."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts and rel_dir.parts[0] in skip:
            dirnames[:] = []
            continue
        if not rel_dir.parts:
            dirnames[:] = [d for d in dirnames if d not in skip]
            filenames = [f for f in filenames if f not in skip]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                entries[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[rel] = ("dir",)
            else:
                stat = path.stat()
                entries[rel] = ("file", stat.st_size, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return entries


def diff(before: dict, after: dict) -> dict[str, list[str]]:
    return {"created": sorted(set(after) - set(before)), "deleted": sorted(set(before) - set(after)),
            "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k])}


def valid_rows() -> list[dict]:
    return [
        row("P1", "cells", "baseline", "albumin", "mean", "28.5", "g/L"),
        row("P2", "cells", "baseline", "albumin", "sd", "3.1", "g/L"),
        row("P3", "control", "baseline", "albumin", "mean", "29.0", "g/L"),
        row("P4", "control", "baseline", "albumin", "sd", "3.0", "g/L"),
    ]


def inert_study(folder: Path) -> Path:
    """A valid study whose every free-text field holds a path, URL or shell snippet."""
    meta = minimal_meta(folder.name)
    meta.update(citation="../../etc/passwd", doi_or_pmid="file:///etc/passwd", design="see /etc/shadow",
                population="~/.ssh/id_rsa", etiology="$(touch /tmp/livertrials_pwned)", country="..\\..\\windows",
                follow_up="results/../../outside.txt", sources=list(PATH_TEXTS),
                flags=[{"code": "other", "detail": "file:///etc/passwd", "studies": ["../../etc"]}])
    meta["arms"][0].update(label="/etc/passwd", dose="../../../root", co_intervention="file:///dev/zero")
    rows = []
    for number, base in enumerate(valid_rows()):
        text = PATH_TEXTS[number % len(PATH_TEXTS)]
        rows.append(dict(base, source=text, quote=f"quote {text}", location=PATH_TEXTS[(number + 1) % len(PATH_TEXTS)],
                         note=PATH_TEXTS[(number + 2) % len(PATH_TEXTS)], arm_as_printed=text))
    return write_study(folder, meta, rows)


def errors_of(issues) -> list:
    return [i for i in issues if i.severity == "error"]


def assert_clear_rejection(records, characteristics, issues, file_name: str | None = None):
    errors = errors_of(issues)
    report = "\n".join(str(i) for i in issues)
    assert errors, "the study was not rejected"
    assert records == [] and characteristics == [], report
    assert not any(i.rule == "internal error" for i in issues), report
    for issue in errors:
        assert "Traceback" not in str(issue)
        if file_name:
            assert Path(issue.file).name in {file_name, "study.yaml", "measurements.csv"}, report
    return errors


@pytest.fixture(scope="module", autouse=True)
def warm_imports(tmp_path_factory, registry):
    """Run process_study once so that libraries' lazy imports happen before any recording."""
    folder = write_study(tmp_path_factory.mktemp("warm") / "Warm", minimal_meta("Warm"), valid_rows())
    process_study(folder, "studies", registry)


def test_the_recorder_sees_reads_and_catches_an_escape(tmp_path, registry, monkeypatch):
    """Guard the guard: the recorder sees the study's reads, and an open outside the folder fails the check."""
    folder = inert_study(tmp_path / "Inert2026")
    with recorded_opens() as opened:
        process_study(folder, "studies", registry)
    assert (str(folder / "measurements.csv"), "rb") in opened and (str(folder / "study.yaml"), "rb") in opened
    import livertrials.io.extraction as extraction

    real = extraction.read_measurements

    def leaky(path):  # a hypothetical bug: following the `source` cell of the first row
        (path.parent / "../../outside.txt").exists()
        return real(path)

    monkeypatch.setattr(extraction, "read_measurements", leaky)
    with recorded_opens() as opened:
        process_study(folder, "studies", registry)
    with pytest.raises(AssertionError, match="outside the study folder"):
        assert_opens_confined(opened, folder)


# ---------------------------------------------------------------------------
# study ids and folder names
# ---------------------------------------------------------------------------

BAD_FOLDER_NAMES = ["has space", "trailing ", "-dash-first", "back\\slash", "tab\tname",
                    "new\nline", "semi;colon", "ünïcode", "a" * 81, "br{ace}", "star*", "quote'd", "colon:name"]


@pytest.mark.parametrize("name", BAD_FOLDER_NAMES, ids=lambda n: repr(n)[:20])
def test_folder_name_outside_the_id_pattern_is_rejected(tmp_path, registry, name):
    """The id equals the folder name here, but the name is not a safe id: the schema pattern rejects it."""
    folder = write_study(tmp_path / name, minimal_meta(name), valid_rows())
    with recorded_opens() as opened:
        records, characteristics, issues = process_study(folder, "studies", registry)
    assert_opens_confined(opened, folder)
    errors = assert_clear_rejection(records, characteristics, issues)
    assert any(i.rule == "study.yaml schema" and i.column == "id" and "no spaces or slashes" in i.message for i in errors), \
        [str(i) for i in errors]
    assert {i.study for i in issues} == {name}


BAD_IDS = ["../Good", "../../etc/passwd", "/etc/passwd", "Good/..", "Good/sub", "..", ".", "./Good", "~root",
           "C:\\Windows", "file:///etc/passwd", "Good\x00", "Good ", " Good", "good"]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=lambda n: repr(n))
def test_study_yaml_id_must_equal_the_folder_name(tmp_path, registry, bad_id):
    folder = write_study(tmp_path / "Good", minimal_meta(bad_id), valid_rows())
    with recorded_opens() as opened:
        records, characteristics, issues = process_study(folder, "studies", registry)
    assert_opens_confined(opened, folder)
    errors = assert_clear_rejection(records, characteristics, issues)
    mismatch = [i for i in errors if i.rule == "id matches folder"]
    assert mismatch and mismatch[0].column == "id" and "'Good'" in mismatch[0].message, [str(i) for i in errors]
    if bad_id != "good":  # 'good' is a valid id, only not the folder's
        assert any(i.rule == "study.yaml schema" and i.column == "id" for i in errors), [str(i) for i in errors]
    # the study is known by its folder name, never by the id it claims
    assert {i.study for i in issues} == {"Good"}


def test_a_valid_id_passes(tmp_path, registry):
    folder = write_study(tmp_path / "Good-1.v2_x", minimal_meta("Good-1.v2_x"), valid_rows())
    records, characteristics, issues = process_study(folder, "studies", registry)
    assert errors_of(issues) == [] and records and characteristics


BAD_ARM_IDS = ["../cells", "cells/x", "/etc", "x y", "Cells", "..", "cells\\x", "", "1cells", "cells.x", "cells-x", "c" * 41]


@pytest.mark.parametrize("bad_arm", BAD_ARM_IDS, ids=lambda n: repr(n))
@pytest.mark.parametrize("group", ["arms", "contrasts"])
def test_arm_and_contrast_ids_with_path_characters_are_rejected(tmp_path, registry, bad_arm, group):
    meta = minimal_meta("ArmIds")
    rows = valid_rows()
    if group == "arms":
        meta["arms"][0]["id"] = bad_arm
        meta["contrasts"][0]["intervention"] = bad_arm
        rows = [dict(r, arm=bad_arm) if r["arm"] == "cells" else r for r in rows]
    else:
        meta["contrasts"][0]["id"] = bad_arm
        rows.append(row("C1", bad_arm, "week 4", "albumin", "mean_difference", "1.0", "g/L"))
    folder = write_study(tmp_path / "ArmIds", meta, rows)
    with recorded_opens() as opened:
        records, characteristics, issues = process_study(folder, "studies", registry)
    assert_opens_confined(opened, folder)
    errors = assert_clear_rejection(records, characteristics, issues)
    assert any(i.rule == "study.yaml schema" and i.column == f"{group}.0.id" for i in errors), [str(i) for i in errors]


# ---------------------------------------------------------------------------
# path-like text is inert
# ---------------------------------------------------------------------------

def test_path_like_text_is_kept_verbatim_and_never_opened(tmp_path, registry):
    folder = inert_study(tmp_path / "studies" / "Inert2026")
    pwned = Path("/tmp/livertrials_pwned")
    existed = pwned.exists()
    lineage: list[dict] = []
    with recorded_opens() as opened:
        records, characteristics, issues = process_study(folder, "studies", registry, lineage)
    assert errors_of(issues) == [], [str(i) for i in issues]
    assert records and characteristics
    assert_opens_confined(opened, folder)
    assert pwned.exists() == existed
    # kept as text, character for character
    edges = [e for e in lineage if e.get("input_kind") == "extraction_row"]
    assert {e["source"] for e in edges} == {PATH_TEXTS[i % len(PATH_TEXTS)] for i in range(4)}
    assert {e["quote"] for e in edges} == {f"quote {PATH_TEXTS[i % len(PATH_TEXTS)]}" for i in range(4)}
    assert {e["location"] for e in edges} == {PATH_TEXTS[(i + 1) % len(PATH_TEXTS)] for i in range(4)}
    assert {c["citation"] for c in characteristics} == {"../../etc/passwd"}
    assert {c["doi_or_pmid"] for c in characteristics} == {"file:///etc/passwd"}
    assert "/etc/passwd" in {c["arm_label"] for c in characteristics}
    # every path in the lineage is the study's own file, never a path from the text
    assert {e["file"] for e in edges} == {str(folder / "measurements.csv")}


def test_build_shard_writes_only_its_output_folder(tmp_path):
    studies = tmp_path / "resources" / "studies"
    inert_study(studies / "Inert2026")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(PASSWD_LIKE, encoding="utf-8")
    symlinked = write_study(studies / "Symlinked", minimal_meta("Symlinked"), valid_rows())
    (symlinked / "measurements.csv").unlink()
    (symlinked / "measurements.csv").symlink_to(outside / "passwd")
    out_dir = tmp_path / "results" / "shards" / "0"
    before = snapshot(tmp_path, skip=("results",))
    build_shard([studies / "Inert2026", symlinked], ["studies", "studies"], REGISTRY_PATH, out_dir)
    assert diff(before, snapshot(tmp_path, skip=("results",))) == {"created": [], "deleted": [], "changed": []}
    assert sorted(p.name for p in out_dir.iterdir()) == ["characteristics.parquet", "harmonized.parquet", "issues.parquet",
                                                         "lineage.parquet", "risk_of_bias.parquet"]
    assert [p for p in (tmp_path / "results").rglob("*") if p.is_file() and not p.is_relative_to(out_dir)] == []
    issues = pq.read_table(out_dir / "issues.parquet").to_pandas()
    assert set(issues.loc[issues["severity"] == "error", "study"]) == {"Symlinked"}
    assert "Inert2026" in set(pq.read_table(out_dir / "harmonized.parquet").to_pandas()["study_id"])


# ---------------------------------------------------------------------------
# symlinks inside a study folder
# ---------------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "passwd").write_text(PASSWD_LIKE, encoding="utf-8")
    (folder / "binary").write_bytes(bytes(range(256)) * 4)
    (folder / "dir").mkdir()
    return folder


def _symlinked_study(tmp_path: Path, name: str, file: str, target: Path | str) -> Path:
    folder = write_study(tmp_path / "studies" / name, minimal_meta(name), valid_rows())
    (folder / file).unlink(missing_ok=True)
    os.symlink(target, folder / file)
    return folder


@pytest.mark.parametrize("target, rule", [
    ("passwd", "file inside the study folder"),  # never read as the study's measurements
    ("binary", "file inside the study folder"),
    ("dir", "required file"),  # a directory is not a file
    ("missing", "required file"),  # dangling link
])
def test_measurements_symlink_out_of_the_folder_is_rejected_clearly(tmp_path, registry, outside, target, rule):
    folder = _symlinked_study(tmp_path, "Symlinked", "measurements.csv", outside / target)
    before = snapshot(tmp_path)
    with recorded_opens() as opened:
        records, characteristics, issues = process_study(folder, "studies", registry)
    errors = assert_clear_rejection(records, characteristics, issues)
    assert any(i.rule == rule and Path(i.file).name == "measurements.csv" and "measurements.csv" in str(i) for i in errors), \
        [str(i) for i in errors]
    # the link is opened through its name in the study folder; nothing is written anywhere
    assert_opens_confined(opened, folder)
    assert diff(before, snapshot(tmp_path)) == {"created": [], "deleted": [], "changed": []}


def test_measurements_symlink_to_etc_passwd_is_rejected(tmp_path, registry):
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd on this system")
    folder = _symlinked_study(tmp_path, "Passwd", "measurements.csv", "/etc/passwd")
    records, characteristics, issues = process_study(folder, "studies", registry)
    errors = assert_clear_rejection(records, characteristics, issues)
    assert all(Path(i.file).name == "measurements.csv" for i in errors), [str(i) for i in errors]
    # whatever the shape of the system's passwd file, a shape or column rule rejects it
    assert {i.rule for i in errors} == {"file inside the study folder"}, [str(i) for i in errors]


@pytest.mark.parametrize("target, rule", [("passwd", "file inside the study folder"), ("dir", "required file"),
                                          ("missing", "required file")])
def test_study_yaml_symlink_out_of_the_folder_is_rejected_clearly(tmp_path, registry, outside, target, rule):
    folder = _symlinked_study(tmp_path, "SymYaml", "study.yaml", outside / target)
    records, characteristics, issues = process_study(folder, "studies", registry)
    errors = assert_clear_rejection(records, characteristics, issues)
    assert any(i.rule == rule and Path(i.file).name == "study.yaml" for i in errors), [str(i) for i in errors]


def test_patients_symlink_out_of_the_folder_is_rejected_clearly(tmp_path, registry, outside):
    folder = tmp_path / "studies" / "SYNTH-PLD-001"
    shutil.copytree(ROOT / "resources" / "examples" / "SYNTH-PLD-001", folder)
    (folder / "patients.csv").unlink()
    (folder / "patients.csv").symlink_to(outside / "passwd")
    records, characteristics, issues = process_study(folder, "studies", registry)
    assert_clear_rejection(records, characteristics, issues)


def test_patients_fifo_does_not_hang(tmp_path):
    folder = tmp_path / "studies" / "SYNTH-PLD-001"
    shutil.copytree(ROOT / "resources" / "examples" / "SYNTH-PLD-001", folder)
    (folder / "patients.csv").unlink()
    os.mkfifo(folder / "patients.csv")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from livertrials.harmonize.study import process_study
        from livertrials.io.registry import load_registry
        records, _, issues = process_study(Path({str(folder)!r}), "studies", load_registry({str(REGISTRY_PATH)!r}))
        print(len(records), [i.rule for i in issues])
    """)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("process_study blocked on a FIFO named patients.csv") from None
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stdout and "0 [" in done.stdout, done.stdout


# ---------------------------------------------------------------------------
# the evidence-sheet importer (python -m livertrials.io.evidence_sheet) turns sheet ids into folder names
# ---------------------------------------------------------------------------

SHEET_COLUMNS = ["row_id", "study_id", "citation", "doi_or_pmid", "design", "population", "arm", "arm_n", "timepoint",
                 "outcome", "statistic", "value", "unit", "source", "quote"]


@pytest.mark.parametrize("sheet_id", ["../../escaped", "{outside}/abs_escaped", "ok/../../../escaped (note)"])
def test_evidence_sheet_ids_cannot_escape_resources(tmp_path, sheet_id):
    import csv

    from livertrials.io.evidence_sheet import import_sheet

    outside = tmp_path / "outside"
    outside.mkdir()
    sheet_id = sheet_id.replace("{outside}", str(outside))
    resources = tmp_path / "resources"
    resources.mkdir()
    sheet = tmp_path / "sheet.csv"
    with open(sheet, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SHEET_COLUMNS)
        writer.writeheader()
        writer.writerow(dict(zip(SHEET_COLUMNS, ["E1", sheet_id, "c", "doi:x", "RCT", "p", "cells", "10", "baseline",
                                                 "albumin", "mean", "30", "g/L", "s", "q"])))
    before = snapshot(tmp_path, skip=("resources",))
    try:
        import_sheet(sheet, resources)
    except ValueError:
        pass  # refusing the id is a fine outcome
    written = diff(before, snapshot(tmp_path, skip=("resources",)))
    assert written == {"created": [], "deleted": [], "changed": []}, written


# ---------------------------------------------------------------------------
# end to end: the workflow writes only under results/ (and Snakemake's .snakemake/)
# ---------------------------------------------------------------------------

HOSTILE = {  # folder (collection/name) -> expected to be rejected
    "studies/has space": True,
    "studies/Mismatch": True,  # id: ../Mismatch
    "studies/BadArm": True,  # arm id ../cells
    "studies/Symlinked": True,  # measurements.csv -> outside passwd-like file
    "comparators/back\\slash": True,
    "studies/Inert2026": False,  # path-like text everywhere, valid
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("path_safety")
    work = copy_project(base / "project")
    outside = base / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(PASSWD_LIKE, encoding="utf-8")
    res = work / "resources"
    write_study(res / "studies" / "has space", minimal_meta("has space"), valid_rows())
    write_study(res / "studies" / "Mismatch", minimal_meta("../Mismatch"), valid_rows())
    bad_arm = minimal_meta("BadArm")
    bad_arm["arms"][0]["id"] = "../cells"
    write_study(res / "studies" / "BadArm", bad_arm, valid_rows())
    symlinked = write_study(res / "studies" / "Symlinked", minimal_meta("Symlinked"), valid_rows())
    (symlinked / "measurements.csv").unlink()
    (symlinked / "measurements.csv").symlink_to(outside / "passwd")
    write_study(res / "comparators" / "back\\slash", minimal_meta("back\\slash"), valid_rows())
    inert_study(res / "studies" / "Inert2026")
    before_work = snapshot(work, skip=("results", ".snakemake"))
    before_base = snapshot(base, skip=("project",))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run([sys.executable, "-m", "snakemake", "-c2", "--keep-going"], cwd=work, capture_output=True,
                         text=True, timeout=900, env=env)
    after_work = snapshot(work, skip=("results", ".snakemake"))
    after_base = snapshot(base, skip=("project",))
    summary = subprocess.run([sys.executable, "-m", "snakemake", "--summary"], cwd=work, capture_output=True, text=True,
                             timeout=300, env=env)
    return {"work": work, "run": run, "summary": summary, "work_diff": diff(before_work, after_work),
            "base_diff": diff(before_base, after_base)}


@pytest.mark.slow
def test_workflow_creates_nothing_outside_results(hostile_run):
    run = hostile_run["run"]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert (hostile_run["work"] / "results" / "harmonized" / "outcomes.parquet").is_file(), run.stderr[-3000:]
    assert hostile_run["work_diff"] == {"created": [], "deleted": [], "changed": []}
    assert hostile_run["base_diff"] == {"created": [], "deleted": [], "changed": []}


@pytest.mark.slow
def test_every_declared_output_and_log_is_under_results(hostile_run):
    summary = hostile_run["summary"]
    assert summary.returncode == 0, summary.stderr[-3000:]
    lines = [line.split("\t") for line in summary.stdout.splitlines() if "\t" in line]
    header, body = lines[0], lines[1:]
    assert header[0] == "output_file" and body
    column = header.index("log-file(s)")
    for fields in body:
        paths = [fields[0]] + [p for p in fields[column].split(",") if p and p != "-"]
        for path in paths:
            assert not Path(path).is_absolute() and ".." not in Path(path).parts, path
            assert Path(path).parts[0] == "results", path


@pytest.mark.slow
def test_results_hold_only_regular_files_inside_results(hostile_run):
    results = hostile_run["work"] / "results"
    for path in results.rglob("*"):
        assert not path.is_symlink(), path
        assert path.resolve().is_relative_to(results.resolve()), path


@pytest.mark.slow
def test_hostile_folders_are_rejected_and_the_inert_one_builds(hostile_run):
    work, run = hostile_run["work"], hostile_run["run"]
    assert run.returncode != 0  # check_validation: studies were excluded
    summary = json.loads((work / "results" / "validation" / "summary.json").read_text())
    expected = {name.split("/", 1)[1] for name, rejected in HOSTILE.items() if rejected}
    assert set(summary["rejected_studies"]) == expected
    report = (work / "results" / "validation" / "report.txt").read_text()
    assert "Symlinked" in report and "measurements.csv" in report
    outcomes = pq.read_table(work / "results" / "harmonized" / "outcomes.parquet").to_pandas()
    assert "Inert2026" in set(outcomes["study_id"]) and not expected & set(outcomes["study_id"])
    lineage = pq.read_table(work / "results" / "provenance" / "lineage_harmonize.parquet").to_pandas()
    inert = lineage[lineage["study_id"] == "Inert2026"]
    assert set(inert["source"]) <= set(PATH_TEXTS) and "../../etc/passwd" in set(inert["source"])
    assert set(inert["file"]) == {"resources/studies/Inert2026/measurements.csv"}


@pytest.mark.slow
def test_no_content_from_outside_the_project_is_copied_into_results(hostile_run):
    results = hostile_run["work"] / "results"
    assert (results / "provenance").is_dir()
    leaked = sorted(str(p.relative_to(results)) for p in results.rglob("*")
                    if p.is_file() and b"secret-token-do-not-leak" in p.read_bytes())
    assert leaked == [], f"content of a file outside the project was copied into results/: {leaked}"


@pytest.mark.slow
def test_folder_name_with_braces_is_rejected_not_fatal(tmp_path):
    work = copy_project(tmp_path / "project")
    write_study(work / "resources" / "studies" / "br{ace}", minimal_meta("br{ace}"), valid_rows())
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-c1"], cwd=work, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "WildcardError" not in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-2000:]
