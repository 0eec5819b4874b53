# livertrials: from raw study extractions to validated, harmonized Parquet and figures.
# The logic lives in the `livertrials` package; rules only wire files together.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/harmonize.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/synthesis.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/checks.smk"


rule all:
    default_target: True
    input:
        rules.merge_shards.output,
        rules.figures.output,
        rules.check_validation.output,
        rules.synthesize.output,
        rules.provenance_lineage.output,
        rules.provenance_run.output,
        rules.forest_plots.output,
        rules.report.output,
