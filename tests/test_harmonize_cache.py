"""The per-study cache of a harmonization shard: an edited study is processed again, the others reused, and
the shard's files are the same bytes as without the cache."""

import shutil

from conftest import ROOT

from livertrials.harmonize.shards import build_shard

REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
STUDIES = ["Salama2014", "Mohamadnejad2013", "Suk2016", "Spahr2013"]


def shard_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def copy_studies(target):
    for name in STUDIES:
        shutil.copytree(ROOT / "resources" / "studies" / name, target / name)
    return [target / name for name in STUDIES]


def test_an_edit_reprocesses_only_its_study_and_gives_the_bytes_of_a_build_without_cache(tmp_path, capsys):
    folders = copy_studies(tmp_path / "studies")
    cache = tmp_path / "cache"
    build_shard(folders, ["studies"] * 4, REGISTRY_PATH, tmp_path / "first" / "0", cache_dir=str(cache))
    assert "0 reused, 4 computed" in capsys.readouterr().out
    measurements = folders[0] / "measurements.csv"
    measurements.write_text(measurements.read_text(encoding="utf-8").replace(",1.88,", ",1.89,", 1), encoding="utf-8")
    build_shard(folders, ["studies"] * 4, REGISTRY_PATH, tmp_path / "again" / "0", cache_dir=str(cache))
    assert "3 reused, 1 computed" in capsys.readouterr().out
    build_shard(folders, ["studies"] * 4, REGISTRY_PATH, tmp_path / "fresh" / "0")
    rebuilt, fresh = shard_files(tmp_path / "again" / "0"), shard_files(tmp_path / "fresh" / "0")
    assert rebuilt == fresh and len(fresh) == 5
    assert rebuilt != shard_files(tmp_path / "first" / "0")   # the edit did reach the tables
    assert len(list((cache / "studies" / "0").glob("*/*"))) == 4   # the entry of the old version was pruned


def test_a_new_file_in_a_folder_changes_its_key(tmp_path, capsys):
    folders = copy_studies(tmp_path / "studies")
    cache = str(tmp_path / "cache")
    build_shard(folders, ["studies"] * 4, REGISTRY_PATH, tmp_path / "a" / "0", cache_dir=cache)
    (folders[1] / "notes.txt").write_text("a reviewer's note", encoding="utf-8")
    capsys.readouterr()
    build_shard(folders, ["studies"] * 4, REGISTRY_PATH, tmp_path / "b" / "0", cache_dir=cache)
    assert "3 reused, 1 computed" in capsys.readouterr().out
