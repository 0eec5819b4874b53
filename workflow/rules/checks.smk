rule double_extraction:
    """Compare each second extractor's measurements.second.csv with its study's measurements.csv (Cochrane double extraction)."""
    input:
        extractions=second_extraction_inputs,
        registry=config["registry"],
    output:
        DOUBLE_EXTRACTION,
    log:
        "results/logs/double_extraction.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        folders=lambda wildcards: [str(folder) for folder, _ in second_extraction_members()],
        collections=lambda wildcards: [collection for _, collection in second_extraction_members()],
    script:
        "../../scripts/double_extraction.py"


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
