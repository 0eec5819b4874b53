# Provenance of a run (docs/provenance.md): row-level lineage, the run manifest, the living-review change
# report and a Workflow Run RO-Crate. The rules run after every data output; none of them changes the data.
from livertrials.provenance.lineage import workflow_files

PROVENANCE = config["provenance"]
HISTORY = "results/provenance/history"  # managed by provenance_run, never a declared output (provenance/run_record.py)
CONFIGFILES = [str(p) for p in workflow.configfiles]


rule provenance_lineage:
    """results/provenance/lineage.parquet: harmonize edges + synthesis edges, down to the printed numbers."""
    input:
        harmonize=rules.merge_shards.output.lineage,
        synthesis=rules.synthesize.output.lineage,
    output:
        "results/provenance/lineage.parquet",
    log:
        "results/logs/provenance_lineage.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=corpus_mem_mb(1000, 1000),
        runtime=5,
    script:
        "../../scripts/provenance_lineage.py"


rule provenance_run:
    """The run's record: manifest (SHA-256 of every input and output, resolved config, versions, git state, start and end), the living-review change report (inputs changed since the previous run, pooled estimates that moved) and the Workflow Run RO-Crate (workflow, inputs, config as parameters, every output); one job, as each is a second's work."""
    input:
        outputs=described_outputs,
        summary=rules.merge_shards.output.summary,
        pooled=rules.synthesize.output.pooled,
        inputs=run_inputs,
        configfiles=CONFIGFILES,
        workflow=workflow_files(Path(workflow.basedir)),
    output:
        manifest="results/provenance/manifest.json",
        changes_md="results/provenance/changes.md",
        changes_json="results/provenance/changes.json",
        crate=directory("results/provenance/ro-crate"),
    log:
        "results/logs/provenance_run.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        history=HISTORY,
        configfiles=CONFIGFILES,
        keep=PROVENANCE["history_keep"],
        tolerance=PROVENANCE["change_tolerance"],
    script:
        "../../scripts/provenance_run.py"
