"""`livertrials validate` from any directory: --registry, --config, or the project's config found from the folder."""

from __future__ import annotations

import shutil
import subprocess
import sys

import yaml
from conftest import ROOT, minimal_meta, row, write_study

from livertrials.cli import main
from livertrials.io.project import find_config, project_root

SHIPPED_STUDY = ROOT / "resources" / "studies" / "Lin2017"


def project(base, registry="resources/registry/outcomes.yaml", alias="albumen"):
    """A review kept apart from the code: config/, its own registry (albumin has the extra alias), one study using it."""
    registry_dir = (base / registry).parent
    shutil.copytree(ROOT / "resources" / "registry", registry_dir)
    outcomes = yaml.safe_load((registry_dir / "outcomes.yaml").read_text(encoding="utf-8"))
    outcomes["outcomes"]["albumin"]["aliases"] = list(outcomes["outcomes"]["albumin"].get("aliases", [])) + [alias]
    (registry_dir / "outcomes.yaml").unlink()
    (base / registry).write_text(yaml.safe_dump(outcomes, sort_keys=False), encoding="utf-8")
    (base / "config").mkdir(parents=True)
    (base / "config" / "config.yaml").write_text(f"registry: {registry}\n", encoding="utf-8")
    study = write_study(base / "resources" / "studies" / "Own", minimal_meta("Own"),
                        [row("R1", "cells", "baseline", alias, "mean", "30", "g/L")])
    return study


def run(capsys, *argv):
    code = main(["validate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_shipped_study_validates_from_another_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the registry comes from the config above the study folder, not the working directory
    code, out, err = run(capsys, SHIPPED_STUDY)
    assert code == 0 and err == "" and "Lin2017: ok" in out


def test_the_config_registry_is_used_relative_to_the_project_root(tmp_path, monkeypatch, capsys):
    study = project(tmp_path / "review", registry="lists/my_outcomes.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = run(capsys, study)
    assert code == 0, out  # the alias exists only in the review's own registry
    code, out, _ = run(capsys, "--registry", ROOT / "resources" / "registry" / "outcomes.yaml", study)
    assert code == 1 and "known outcome" in out  # --registry wins over the config


def test_an_explicit_config_is_read_from_anywhere(tmp_path, monkeypatch, capsys):
    study = project(tmp_path / "review")
    moved = tmp_path / "studies" / "Own"
    shutil.move(str(study), moved)  # no config above the folder now
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, moved)
    assert code == 2 and "no registry" in err
    code, out, err = run(capsys, "--config", "review/config/config.yaml", "studies/Own")
    assert (code, err) == (0, ""), out


def test_the_config_in_the_working_directory_comes_first(tmp_path, monkeypatch):
    study = project(tmp_path / "review")
    (tmp_path / "here" / "config").mkdir(parents=True)
    (tmp_path / "here" / "config" / "config.yaml").write_text("registry: r.yaml\n")
    assert find_config(study, tmp_path / "here") == tmp_path / "here" / "config" / "config.yaml"
    assert find_config(study, tmp_path) == (tmp_path / "review" / "config" / "config.yaml").resolve()
    assert project_root(tmp_path / "review" / "config" / "config.yaml") == (tmp_path / "review").resolve()
    assert project_root(tmp_path / "my.yaml") == tmp_path.resolve()  # a config outside config/: its own folder


def test_a_config_without_registry_takes_the_default_path(tmp_path, monkeypatch, capsys):
    study = project(tmp_path / "review")
    (tmp_path / "review" / "config" / "config.yaml").write_text("shards: 2\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, study)
    assert code == 0, out


def test_problems_are_one_line_without_traceback(tmp_path, monkeypatch, capsys):
    study = project(tmp_path / "review")
    monkeypatch.chdir(tmp_path)
    cases = {
        ("--registry", tmp_path / "missing.yaml"): "does not exist",
        ("--config", tmp_path / "missing.yaml"): "config file",
    }
    (tmp_path / "broken.yaml").write_text("registry: [unclosed\n")
    cases[("--config", tmp_path / "broken.yaml")] = "cannot be read"
    (tmp_path / "list.yaml").write_text("registry: [a, b]\n")
    cases[("--config", tmp_path / "list.yaml")] = "registry must be a path"
    (tmp_path / "bad_registry.yaml").write_text("outcomes: {albumin: {}}\n")
    cases[("--registry", tmp_path / "bad_registry.yaml")] = "cannot be read"
    for argv, words in cases.items():
        code, out, err = run(capsys, *argv, study)
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and words in err and err.startswith("livertrials validate: error: "), err


def test_the_installed_command_prints_no_traceback_outside_a_project(tmp_path):
    folder = write_study(tmp_path / "Alone", minimal_meta("Alone"), [row("R1", "cells", "baseline", "albumin", "mean", "30", "g/L")])
    result = subprocess.run([sys.executable, "-m", "livertrials.cli", "validate", str(folder)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--registry" in result.stderr and result.stdout == ""
