# A one-rule workflow whose only job fails on purpose. run_slurm_test.sh submits it through
# profiles/slurm and expects Snakemake to report the failure and exit non-zero in time,
# not to wait forever for a job status it never gets.


rule all:
    input:
        "never.txt",


rule fail_on_purpose:
    output:
        "never.txt",
    threads: 1
    resources:
        mem_mb=100,
        runtime=2,
    shell:
        "echo 'failing on purpose' >&2; exit 1"
