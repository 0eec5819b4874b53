from pathlib import Path

from snakemake.utils import validate

from livertrials.harmonize.shards import shard_count, shard_of
from livertrials.io.extraction import study_folders as folders_under
from livertrials.io.registry import registry_files
from livertrials.lineage.run_info import input_files
from livertrials.provenance.lineage import rule_outputs
from livertrials.settings import SCHEMA_PATH
from livertrials.validate.double_extraction import SECOND_FILE

# Fills every key left out with its default from the schema (the one place defaults live).
validate(config, str(SCHEMA_PATH))

STUDY_FILES = ("study.yaml", "measurements.csv", "patients.csv")
COLLECTIONS = {"studies": config["studies_dir"], "comparators": config["comparators_dir"]}
# Rules whose outputs the run manifest does not describe: its own rule (with the change report and crate), the
# target rule, and the validation check (it fails the run on purpose when a study is excluded, and the manifest
# should still be written then). A rule that reads manifest.json or changes.* must be listed here too.
NOT_DESCRIBED = {"provenance_run", "check_validation", "all"}


# (folder, collection) of every study folder, found anew at each run (a new folder is a new study), once: the
# input functions below ask for it per shard and per rule, and at 10,000 folders each scan took seconds
STUDY_FOLDERS = [
    (folder, collection) for collection, root in COLLECTIONS.items() for folder in folders_under(Path(root))
]


STUDY_COUNT = len(STUDY_FOLDERS)
SHARD_COUNT = shard_count(config["shards"], STUDY_COUNT)
SHARDS = list(range(SHARD_COUNT))
SHARD_MEMBERS = {shard: [] for shard in SHARDS}
for _folder, _collection in STUDY_FOLDERS:
    SHARD_MEMBERS[shard_of(_folder.name, SHARD_COUNT)].append((_folder, _collection))


def corpus_mem_mb(base, per_1000_studies):
    """Memory (MB) for jobs reading the whole corpus, grown with the number of study folders. Peaks measured
    at 1,000 synthetic studies (docs/cluster.md) were synthesize 1.4 GB, report 1.9 GB and forest plots
    0.7 GB per process; a cluster kills a job that goes over its request."""
    return int(base + per_1000_studies * STUDY_COUNT / 1000)


def shard_members(shard):
    return SHARD_MEMBERS[int(shard)]


def literal_paths(paths):
    """Paths as input strings, leaving out any with braces: Snakemake would read them as wildcards.
    Such a folder is still validated (and rejected: braces are not allowed in a study id) by its shard."""
    return [str(p) for p in paths if not set("{}") & set(str(p))]


def shard_inputs(wildcards):
    files = literal_paths(
        folder / name
        for folder, _ in shard_members(wildcards.shard)
        for name in STUDY_FILES
        if (folder / name).exists()
    )
    # interventions.yaml too: the records carry each arm's intervention label and class from it
    return {
        "registry": config["registry"],
        "interventions": str(registry_files(config["registry"])[1]),
        "studies": files,
    }


DOUBLE_EXTRACTION = "results/validation/double_extraction.parquet"


def second_extraction_members():
    """(folder, collection) of every study folder holding a second extractor's measurements.second.csv."""
    return [(folder, collection) for folder, collection in STUDY_FOLDERS if (folder / SECOND_FILE).is_file()]


def second_extraction_inputs(wildcards):
    """Both extractions of each such folder: adding, editing or removing one reruns the comparison."""
    return literal_paths(
        folder / name for folder, _ in second_extraction_members() for name in ("measurements.csv", SECOND_FILE)
    )


def double_extraction_for_merge(wildcards):
    """The comparison, as an input of merge_shards only when its disagreements exclude studies: otherwise editing
    a second extraction must not rebuild the harmonized tables and everything after them."""
    return [DOUBLE_EXTRACTION] if config["exclude_unresolved_double_extraction"] else []


def shard_folders(wildcards):
    """The study folders of one shard (every folder, also one whose name Snakemake could not take as an input)."""
    return [str(folder) for folder, _ in shard_members(wildcards.shard)]


def shard_collections(wildcards):
    """The collection (studies or comparators) of each folder of shard_folders, in the same order."""
    return [collection for _, collection in shard_members(wildcards.shard)]


def described_outputs(wildcards):
    """Every output the run manifest describes (all rules but NOT_DESCRIBED), one path per shard."""
    return rule_outputs(workflow.rules, NOT_DESCRIBED, shard=SHARDS)


def run_inputs(wildcards):
    """The run's input files (the registry, every file of the study and comparator folders) as input paths."""
    return literal_paths(input_files(config))


def lineage_tables(wildcards):
    """Every lineage table under results/provenance/ that some rule writes; the report's audit trails read them."""
    return sorted(
        {
            str(path)
            for rule in workflow.rules
            for path in rule.output
            if str(path).startswith("results/provenance/lineage")
        }
    )


def results_dir(wildcards, input):
    """The results/ folder the report reads, found from its harmonized input (results/harmonized/...)."""
    return str(Path(input.harmonized).parents[1])
