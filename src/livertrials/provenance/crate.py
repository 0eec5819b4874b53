"""Workflow Run RO-Crate export of a run (rule provenance_run, ``results/provenance/ro-crate/``)."""

from __future__ import annotations

import json
from pathlib import Path

from livertrials.lineage.run_info import sha256
from livertrials.provenance.lineage import study_of
from livertrials.provenance.manifest import relative_to_root
from livertrials.settings import SCHEMA_PATH

CRATE_VERSION = "1.1"   # RO-Crate 1.1 with the Workflow Run Crate 0.5 profiles: what rocrate-validator checks today
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": ("Workflow RO-Crate", "1.0"),
}
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"   # defines sha256
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
CRATE_README = """# livertrials workflow run ({start} - {end})

This folder is a Workflow Run RO-Crate: `ro-crate-metadata.json` describes one run of the livertrials
Snakemake workflow (`Snakefile`, with `workflow/` and `scripts/`) as a `CreateAction` whose `object` is
every input (the study folders, the outcome registry, the configuration, each configuration key as a
parameter) and whose `result` is every output. Every file is here under its path in the project (outputs as
hard links where the filesystem allows: zip or copy the folder to take it elsewhere),
with its SHA-256 (`sha256`) in the metadata: `sha256sum PATH` must give the same value.

* `results/provenance/manifest.json`: the run manifest (inputs, outputs, config, versions, git, times).
* `results/provenance/lineage.parquet`: one edge per (output row, input row), down to the printed numbers
  and their quotes; `livertrials audit ID --results results` prints the trail of any id.
* `results/provenance/changes.md`: what changed since the previous run of the living review.

See docs/provenance.md in the livertrials repository.
"""
MEDIA_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json", ".md": "text/markdown",
               ".txt": "text/plain", ".csv": "text/csv", ".yaml": "text/yaml", ".yml": "text/yaml", ".svg": "image/svg+xml",
               ".png": "image/png", ".pdf": "application/pdf", ".py": "text/x-python", ".smk": "text/x-snakemake",
               ".rst": "text/x-rst", ".html": "text/html", "": "text/plain"}
PARAMETER_TYPES = {bool: "Boolean", int: "Integer", float: "Float", str: "Text", dict: "PropertyValue", list: "Text"}


def _file_properties(path: Path, name: str | None = None, description: str | None = None) -> dict:
    props = {"name": name or path.name, "sha256": sha256(path), "contentSize": str(path.stat().st_size),
             "encodingFormat": MEDIA_TYPES.get(path.suffix, "application/octet-stream")}
    if description:
        props["description"] = description
    return props


def _schema_descriptions(schema_path: Path) -> dict[str, str]:
    import yaml

    if not schema_path.exists():
        return {}
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    return {k: v.get("description", "") for k, v in (schema.get("properties") or {}).items()}


OUTPUT_DESCRIPTIONS = {
    "results/provenance/lineage.parquet": "row-level lineage: every output row <- the rows it was made from, down to the "
                                          "printed numbers and their quotes, with each step's transformation",
    "results/provenance/manifest.json": "run manifest: SHA-256 of every input and output, resolved configuration, "
                                        "package versions, git commit, start and end",
    "results/provenance/changes.md": "living-review change report: inputs changed since the previous run and the pooled "
                                     "estimates that moved",
    "results/provenance/changes.json": "the change report, machine-readable",
}


def write_crate(crate_dir: Path, run: dict, config: dict, configfiles: list[Path], workflow_files: list[Path],
                inputs: list[Path], outputs: list[Path], root: Path = Path(".")) -> Path:
    """Write a Workflow Run RO-Crate describing this run into ``crate_dir`` (inputs copied in, outputs
    hard-linked, paths kept)."""
    import io
    import os
    import shutil
    import tempfile
    import uuid

    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    code_root = Path(root)   # the workflow's folder (``root`` below is the crate's root dataset)
    crate = ROCrate(version=CRATE_VERSION)
    crate.metadata.extra_contexts.append(WFRUN_CONTEXT)
    root = crate.root_dataset
    times = run["run"]
    root["name"] = f"livertrials evidence synthesis: workflow run ending {times['end']}"
    root["description"] = ("Run of the livertrials Snakemake workflow: raw study extractions -> validated, harmonized "
                           "Parquet -> study-level effects and pooled estimates, with row-level lineage "
                           "(results/provenance/lineage.parquet) and the run manifest (results/provenance/manifest.json).")
    root["datePublished"] = times["end"]
    license_ = crate.add(ContextEntity(crate, "https://spdx.org/licenses/MIT",
                                       properties={"@type": "CreativeWork", "name": "MIT License",
                                                   "identifier": "https://spdx.org/licenses/MIT"}))
    root["license"] = license_
    profiles = [crate.add(ContextEntity(crate, uri, properties={"@type": "CreativeWork", "name": name, "version": version}))
                for uri, (name, version) in PROFILES.items()]
    root["conformsTo"] = profiles

    def add_file(path: Path, **kwargs):
        path = Path(path)
        if path.is_absolute():   # e.g. snakemake --configfile /elsewhere/run.yaml
            inside = path.resolve().is_relative_to(Path.cwd().resolve())
            rel = path.resolve().relative_to(Path.cwd().resolve()).as_posix() if inside else f"external/{path.name}"
        else:
            rel = path.as_posix()
        return crate.add_file(source=str(path), dest_path=rel, properties=_file_properties(path, **kwargs))

    named = relative_to_root(workflow_files, code_root)
    snakefile = named.pop("Snakefile")
    workflow = crate.add_workflow(source=str(snakefile), dest_path="Snakefile", main=True, lang="snakemake",
                                  lang_version=run.get("snakemake"),
                                  properties={**_file_properties(Path(snakefile)), "name": "livertrials Snakemake workflow",
                                              "version": run["packages"].get("livertrials"), "license": license_,
                                              "conformsTo": {"@id": BIOSCHEMAS_WORKFLOW}})
    parts = [crate.add_file(source=str(path), dest_path=name, properties=_file_properties(path))
             for name, path in sorted(named.items())]
    if parts:
        workflow["hasPart"] = parts

    # The configuration keys are the workflow's parameters; folders and the registry are realized by data entities.
    described = _schema_descriptions(SCHEMA_PATH)
    parameters, objects = [], [add_file(p, description="configuration file (keys below as parameters)") for p in configfiles]
    in_folder: dict[str, list] = {}
    for path in inputs:
        owner = study_of(str(path), config)
        entity = add_file(path)
        if owner is not None:
            in_folder.setdefault(config[f"{owner[0]}_dir"], []).append(entity)
        elif str(path) != str(config.get("registry")):
            objects.append(entity)
    for key in sorted(config):
        value = config[key]
        pid = f"#param-{key}"
        if key in ("studies_dir", "comparators_dir"):
            folder = crate.add_dataset(dest_path=str(Path(value).as_posix()).rstrip("/") + "/",
                                       properties={"name": str(value), "hasPart": in_folder.get(value, []),
                                                   "exampleOfWork": {"@id": pid}})
            kind, example = "Dataset", folder
        elif key == "registry":
            example = crate.get(Path(value).as_posix())
            example["exampleOfWork"] = {"@id": pid}
            kind = "File"
        else:
            kind = PARAMETER_TYPES.get(type(value), "Text")
            shown = value if isinstance(value, (bool, int, float, str)) else json.dumps(value, sort_keys=True)
            example = crate.add(ContextEntity(crate, f"#pv-{key}", properties={
                "@type": "PropertyValue", "name": key, "value": shown, "exampleOfWork": {"@id": pid}}))
        parameters.append(crate.add_formal_parameter(key, kind, identifier=pid, description=described.get(key) or None,
                                                     properties={"workExample": {"@id": example.id}}))
        objects.append(example)
    workflow["input"] = parameters

    results = []
    for path in outputs:
        results.append(add_file(path, description=OUTPUT_DESCRIPTIONS.get(Path(path).as_posix())))
    git = run.get("git") or {}
    packages = ", ".join(f"{k} {v}" for k, v in sorted(run.get("packages", {}).items()) if v)
    action_id = "#run-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"livertrials:{times['start']}:{times['end']}"))
    action = crate.add_action(workflow, identifier=action_id, object=objects, result=results, properties={
        "@type": "CreateAction",
        "name": f"livertrials workflow run {times['start']} - {times['end']}",
        "description": (f"snakemake {run.get('snakemake')}, Python {run.get('python')}; git commit "
                        f"{git.get('commit') or 'none (not a git checkout)'}, dirty: {git.get('dirty')}; "
                        f"start: {times.get('start_basis')}. Packages: {packages}."),
        "startTime": times["start"], "endTime": times["end"],
        "actionStatus": "http://schema.org/CompletedActionStatus",
    })
    root["mentions"] = action
    crate.add_file(source=io.StringIO(CRATE_README.format(start=times["start"], end=times["end"])), dest_path="README.md",
                   properties={"name": "How to read this crate", "encodingFormat": "text/markdown", "about": {"@id": "./"}})

    crate_dir = Path(crate_dir)
    crate_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{crate_dir.name}.", dir=crate_dir.parent))
    try:
        crate.write(staging)
        _link_result_copies(crate, staging)
        if crate_dir.exists():
            shutil.rmtree(crate_dir)
        os.replace(staging, crate_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return crate_dir / "ro-crate-metadata.json"


def _link_result_copies(crate, staging: Path) -> None:
    """Replace the crate's copies of files under results/ by hard links to them (143 MB of copies at 1,000
    studies). Safe for results only: the pipeline writes them to a new file and renames it (atomic_path), and
    Snakemake deletes them before a job reruns, so a link keeps the content of this run. Inputs (study files a
    person may edit in place) stay copies. Where links are not possible (another filesystem), copies stay."""
    import os
    from urllib.parse import unquote

    results = (Path.cwd() / "results").resolve()
    for entity in crate.get_entities():
        source = getattr(entity, "source", None)
        if not isinstance(source, (str, Path)) or not Path(source).resolve().is_relative_to(results):
            continue
        copy = staging / unquote(entity.id)
        if not copy.is_file():
            continue
        link = copy.with_name(f".{copy.name}.link")
        try:
            os.link(Path(source), link)
            os.replace(link, copy)
        except OSError:
            link.unlink(missing_ok=True)
