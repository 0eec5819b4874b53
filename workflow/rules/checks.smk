rule check_validation:
    """Last step: fail the run if a study was excluded, after everything else was built."""
    input:
        summary=rules.merge_shards.output.summary,
        report=rules.merge_shards.output.report,
        figures=rules.figures.output,
        html_report=rules.report.output.html,
    output:
        "results/validation/checked.txt",
    log:
        "results/logs/check_validation.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        fail=config["fail_on_invalid_studies"],
    script:
        "../../scripts/check_validation.py"
