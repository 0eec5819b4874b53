rule synthesize:
    """Study-level effects per declared comparison, analysis windows and longest follow-up, pooled estimates, the published comparators, the studies in no comparison, the summary of findings with GRADE certainty and the evidence gaps (one job)."""
    input:
        harmonized=rules.merge_shards.output.harmonized,
        characteristics=rules.merge_shards.output.characteristics,
        risk_of_bias=rules.merge_shards.output.risk_of_bias,
        registry=config["registry"],
        interventions=str(registry_files(config["registry"])[1]),
    output:
        comparisons="results/synthesis/comparisons.parquet",
        windows="results/synthesis/windows.parquet",
        pooled="results/synthesis/pooled.parquet",
        comparators="results/synthesis/comparators.parquet",
        unmatched="results/synthesis/unmatched.parquet",
        small_study_tests="results/synthesis/small_study_tests.parquet",
        summary_of_findings="results/synthesis/summary_of_findings.parquet",
        summary_of_findings_csv="results/synthesis/summary_of_findings.csv",
        evidence_gaps="results/synthesis/evidence_gaps.parquet",
        lineage="results/provenance/lineage_synthesis.parquet",
    log:
        "results/logs/synthesize.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=corpus_mem_mb(1000, 1500),
        runtime=10,
    params:
        settings=config["synthesis"],
        comparisons=config["comparisons"],
        grade=config["grade"],
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/synthesize.py"
