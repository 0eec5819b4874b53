"""Snakemake script: end the run with an error if a study was excluded (fail_on_invalid_studies)."""
import sys

from livertrials.io.logs import log_to
from livertrials.validate.summary import check_validation

with log_to(snakemake.log[0]):
    ok = check_validation(snakemake.input.summary, snakemake.input.report, snakemake.output[0], snakemake.params.fail)
sys.exit(0 if ok else 1)
