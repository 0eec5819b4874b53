"""Bounded input: no study file, however broken or hostile, costs the build much time, memory or report space.

* study.yaml, measurements.csv and patients.csv above FILE_SIZE_LIMIT are refused before parsing;
* YAML aliases are refused: a 1 KB "billion laughs" study.yaml stands for ~10^9 values;
* values shown in messages are cut to 80 characters plus "...".
Every broken input is built here in tmp_path.
"""

from __future__ import annotations

import os
import time
import tracemalloc

import pytest
from conftest import minimal_meta, row, write_study

from livertrials.harmonize.study import process_study
from livertrials.io.extraction import FILE_SIZE_LIMIT
from livertrials.io.synthetic import write_patient_level_example
from livertrials.io.text import SHOWN_LIMIT, quoted, shorten

ROWS = [row("r1", "cells", "baseline", "albumin", "mean", "30", "g/L"),
        row("r2", "control", "baseline", "albumin", "mean", "31", "g/L")]


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """A valid-looking study.yaml whose population is a list standing for width**levels strings."""
    lines = [f"lol0: &lol0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * width)}]")
    meta = "\n".join(lines) + "\n"
    meta += ("id: Bomb\nkind: trial\ncitation: test\ndesign: test\nrandomized: true\n"
             f"population: *lol{levels - 1}\narms:\n- {{id: cells, label: cells, role: intervention}}\n")
    return meta


def test_alias_bomb_is_refused_quickly_and_in_little_memory(tmp_path, registry):
    folder = write_study(tmp_path / "Bomb", minimal_meta("Bomb"), ROWS)
    text = alias_bomb()
    assert len(text.encode()) < 1024
    (folder / "study.yaml").write_text(text, encoding="utf-8")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        records, chars, issues = process_study(folder, "studies", registry)
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < 5 and peak < 200 * 2**20, (seconds, peak)
    assert records == [] and chars == []
    assert [(i.rule, i.severity) for i in issues] == [("valid YAML", "error")]
    assert "an alias (*name)" in issues[0].message and "aliases and merge keys are not allowed" in issues[0].message
    assert issues[0].file.endswith("study.yaml")


@pytest.mark.parametrize("text", [
    "base: &base {id: cells, label: cells, role: intervention}\narms:\n- *base\n",
    "base: &base {label: cells, role: intervention}\narms:\n- <<: *base\n  id: cells\n",
])
def test_any_alias_or_merge_key_is_refused(tmp_path, registry, text):
    folder = write_study(tmp_path / "Alias", minimal_meta("Alias"), ROWS)
    (folder / "study.yaml").write_text("id: Alias\n" + text, encoding="utf-8")
    _, _, issues = process_study(folder, "studies", registry)
    assert [i.rule for i in issues] == ["valid YAML"] and "alias" in issues[0].message


def test_an_anchor_without_alias_is_harmless(tmp_path, registry):
    folder = write_study(tmp_path / "Anchor", minimal_meta("Anchor"), ROWS)
    text = (folder / "study.yaml").read_text(encoding="utf-8").replace("kind: trial", "kind: &k trial")
    (folder / "study.yaml").write_text(text, encoding="utf-8")
    records, _, issues = process_study(folder, "studies", registry)
    assert records and not [i for i in issues if i.severity == "error"]


def oversize(path):
    with open(path, "r+b" if path.exists() else "wb") as handle:
        handle.truncate(FILE_SIZE_LIMIT + 1)  # sparse: no 5 MiB written to disk


@pytest.mark.parametrize("name", ["study.yaml", "measurements.csv", "patients.csv"])
def test_each_study_file_has_a_size_limit(tmp_path, registry, name):
    if name == "patients.csv":
        folder = tmp_path / "SYNTH-PLD-001"
        write_patient_level_example(folder)
    else:
        folder = write_study(tmp_path / "Big", minimal_meta("Big"), ROWS)
    oversize(folder / name)
    start = time.perf_counter()
    records, chars, issues = process_study(folder, "studies", registry)
    assert time.perf_counter() - start < 5
    assert records == [] and chars == []
    assert [(os.path.basename(i.file), i.rule) for i in issues] == [(name, "file size limit")]
    assert f"{name} is larger than {FILE_SIZE_LIMIT // 2**20} MiB" in issues[0].message


def test_the_limit_is_one_constant_of_5_mib():
    assert FILE_SIZE_LIMIT == 5 * 2**20


def test_long_values_are_cut_in_messages(tmp_path, registry):
    long = "x" * 10_000
    meta = minimal_meta("Long")
    meta["population"] = ["a list"] * 5000  # a type error shows the value found
    meta[long] = "an unknown key"
    meta["condition"] = long
    rows = [row("r1", long, "baseline", "albumin", "mean", "30", "g/L"),
            row("r2", "cells", long, "albumin", "mean", "30", long),
            row(long, "cells", "baseline", "albumin", "mean", long, "g/L")]
    folder = write_study(tmp_path / "Long", meta, rows)
    _, _, issues = process_study(folder, "studies", registry)
    assert len(issues) >= 6, [str(i) for i in issues]
    for issue in issues:
        text = str(issue)
        assert len(text) < 1000, text
        for field in (issue.value, issue.row_id, issue.column):
            assert len(field) <= SHOWN_LIMIT + 3
    shown = "\n".join(str(i) for i in issues)
    assert "x" * SHOWN_LIMIT + "..." in shown and "x" * (SHOWN_LIMIT + 1) not in shown


def test_shorten_and_quoted():
    assert shorten("abc") == "abc"
    assert shorten("y" * 200) == "y" * 80 + "..."
    assert shorten(shorten("y" * 200)) == shorten("y" * 200)
    assert quoted("a\nb") == "'a\\nb'"
    assert quoted("z" * 100) == "'" + "z" * 79 + "..."
