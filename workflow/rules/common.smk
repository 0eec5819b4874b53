from pathlib import Path

from snakemake.utils import validate

from livertrials.harmonize.shards import shard_count, shard_of
from livertrials.settings import SCHEMA_PATH

# Fills every key left out with its default from the schema (the one place defaults live).
validate(config, str(SCHEMA_PATH))

STUDY_FILES = ("study.yaml", "measurements.csv", "patients.csv")
COLLECTIONS = {"studies": config["studies_dir"], "comparators": config["comparators_dir"]}


def study_folders():
    """(folder, collection) of every study folder, found anew at each run: a new folder is a new study."""
    found = []
    for collection, root in COLLECTIONS.items():
        root = Path(root)
        if root.is_dir():
            found += [(p, collection) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))]
    return found


STUDY_COUNT = len(study_folders())
SHARD_COUNT = shard_count(config["shards"], STUDY_COUNT)
SHARDS = list(range(SHARD_COUNT))


def corpus_mem_mb(base, per_1000_studies):
    """Memory (MB) for jobs reading the whole corpus, grown with the number of study folders. Peaks measured
    at 1,000 synthetic studies (docs/cluster.md) were synthesize 1.4 GB, report 1.9 GB and forest plots
    0.7 GB per process; a cluster kills a job that goes over its request."""
    return int(base + per_1000_studies * STUDY_COUNT / 1000)


def shard_members(shard):
    return [(folder, collection) for folder, collection in study_folders() if shard_of(folder.name, SHARD_COUNT) == int(shard)]


def literal_paths(paths):
    """Paths as input strings, leaving out any with braces: Snakemake would read them as wildcards.
    Such a folder is still validated (and rejected: braces are not allowed in a study id) by its shard."""
    return [str(p) for p in paths if not set("{}") & set(str(p))]


def shard_inputs(wildcards):
    files = literal_paths(folder / name for folder, _ in shard_members(wildcards.shard) for name in STUDY_FILES
                          if (folder / name).exists())
    return {"registry": config["registry"], "studies": files}
