"""Shared fixtures: the project root and a helper to write small study folders."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from livertrials.io.extraction import MEASUREMENT_COLUMNS
from livertrials.io.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
# what a workflow run needs: the workflow itself and a review's config/ and resources/
PROJECT_PARTS = ("Snakefile", "workflow", "scripts", "config", "resources", "environment.yml")


def copy_project(target: Path, parts: tuple[str, ...] = PROJECT_PARTS) -> Path:
    """A copy of the project (or of the named parts) in ``target``, for tests that run the workflow."""
    target.mkdir(parents=True, exist_ok=True)
    for name in parts:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target / name)
    return target


@pytest.fixture(scope="session")
def registry():
    return load_registry(ROOT / "resources" / "registry" / "outcomes.yaml")


def minimal_meta(study_id: str, n_cells: int = 20, n_control: int = 20) -> dict:
    return {
        "id": study_id,
        "kind": "trial",
        "citation": "Test fixture, not a real trial",
        "design": "synthetic test fixture",
        "randomized": True,
        "population": "decompensated cirrhosis",
        "condition": "decompensated_cirrhosis",
        "arms": [
            {"id": "cells", "label": "BM-MSC", "role": "intervention", "intervention": "bm_msc", "n_randomized": n_cells,
             "cell_source": "bone_marrow"},
            {"id": "control", "label": "standard care", "role": "control", "intervention": "standard_care",
             "n_randomized": n_control, "cell_source": "none"},
        ],
        "contrasts": [{"id": "cells_vs_control", "label": "BM-MSC vs control", "intervention": "cells", "control": "control"}],
    }


def row(row_id: str, arm: str, timepoint: str, outcome: str, statistic: str, value: str, unit: str, **extra) -> dict:
    base = {c: "" for c in MEASUREMENT_COLUMNS}
    base.update(row_id=row_id, arm=arm, timepoint=timepoint, outcome=outcome, statistic=statistic, value=value,
                unit=unit, source="test://fixture", quote=f"test fixture printing {value}")  # validate.quotes
    base.update(extra)
    return base


def write_study(folder: Path, meta: dict, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    with open(folder / "measurements.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MEASUREMENT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def metafor_missing() -> str | None:
    """Why R metafor cannot be run here (the reason a live cross-check is skipped), or None if it can."""
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (apt-get install r-cran-metafor); the committed metafor results were still checked"
    if subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True, text=True).returncode != 0:
        return "R package metafor is not installed; the committed metafor results were still checked"
    return None
