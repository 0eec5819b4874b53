"""What every stage embeds in its outputs about the run that made them: the run manifest without times.

The manifest describes a run: SHA-256 of every input file, the resolved configuration, package versions, git
commit and whether the tree was dirty. It is embedded in every final Parquet file (``MANIFEST_KEY``), with the
inputs narrowed to the files that output was made from (its rule's inputs), so identical inputs give
byte-identical files, and an output left alone after an edit elsewhere equals a cold build's; start and end times live only in
``results/provenance/manifest.json`` (livertrials.provenance.manifest) and the RO-Crate built from it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from livertrials.io.registry import registry_files

PACKAGES = ("livertrials", "snakemake", "pandas", "pyarrow", "pandera", "numpy", "scipy", "matplotlib", "pyyaml",
            "jsonschema", "rocrate")
MANIFEST_KEY = "livertrials.manifest"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]   # src/livertrials: the code whose digest the manifest holds


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(config: dict) -> list[Path]:
    """Every file the run reads: study and comparator folders, the registry (outcomes and interventions)."""
    files = [path for path in registry_files(config["registry"]) if path.is_file()]
    for key in ("studies_dir", "comparators_dir"):
        root = Path(config[key])
        if root.is_dir():
            files += sorted(p for p in root.glob("*/*") if p.is_file() and not p.name.startswith(".") and _inside(p, root))
    return files


def _inside(path: Path, root: Path) -> bool:
    """False for a file that is (or links to) something outside its collection: it is never copied or hashed
    into the run's outputs (the study is still read, and rejected, by validation)."""
    return path.resolve().is_relative_to(root.resolve())


def git_state(cwd: Path = Path(".")) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def package_source_digest(root: Path = PACKAGE_ROOT) -> str:
    """One SHA-256 over the livertrials package's own source (path and hash of every .py and .yaml file): the
    code that made the outputs, even when the tree is dirty or outside git."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256(path)}\n".encode())
    return digest.hexdigest()


def workflow_root(smk) -> Path:
    """The workflow's own folder (where the Snakefile is) seen from a rule script (``scripts/*.py``). It is not
    the working directory when snakemake runs with ``-d OTHER``; git state and workflow files come from here."""
    return Path(smk.scriptdir).resolve().parent


def manifest(config: dict, cwd: Path = Path("."), inputs=None) -> dict:
    """The run's description without times: same inputs and software give the same manifest. ``cwd`` is the
    workflow's folder, whose git commit is recorded. ``inputs``: the files described (default: every input file of
    the run, ``input_files``)."""
    files = input_files(config) if inputs is None else [Path(p) for p in inputs if Path(p).is_file()]
    return {
        "inputs": {str(p): sha256(p) for p in files},
        "config": config,
        "packages": package_versions(),
        "python": platform.python_version(),
        "livertrials_source_sha256": package_source_digest(),
        "git": git_state(cwd),
    }


def manifest_metadata(config: dict, root: Path = Path("."), inputs=None) -> dict[str, str]:
    """Key-value metadata for Parquet files: the manifest as canonical JSON (``root``: the workflow's folder).
    ``inputs``: the files the output was made from (a rule's input); then the output's bytes depend only on what
    it read, so a rule that did not rerun after an edit elsewhere keeps the bytes a cold build gives it."""
    return {MANIFEST_KEY: json.dumps(manifest(config, root, inputs), sort_keys=True, separators=(",", ":"))}
