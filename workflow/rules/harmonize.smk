rule harmonize_shard:
    """Validate and harmonize one batch of studies; a bad study is recorded and skipped, never fatal."""
    input:
        unpack(shard_inputs),
    output:
        harmonized="results/shards/{shard}/harmonized.parquet",
        characteristics="results/shards/{shard}/characteristics.parquet",
        issues="results/shards/{shard}/issues.parquet",
        lineage="results/shards/{shard}/lineage.parquet",
        risk_of_bias="results/shards/{shard}/risk_of_bias.parquet",
    log:
        "results/logs/harmonize_shard/{shard}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        folders=shard_folders,
        collections=shard_collections,
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/harmonize_shard.py"


rule merge_shards:
    """Concatenate the batches into the harmonized tables (outcomes, study characteristics, risk of bias) and the validation report."""
    input:
        expand("results/shards/{shard}/harmonized.parquet", shard=SHARDS),
        expand("results/shards/{shard}/characteristics.parquet", shard=SHARDS),
        expand("results/shards/{shard}/issues.parquet", shard=SHARDS),
        expand("results/shards/{shard}/lineage.parquet", shard=SHARDS),
        expand("results/shards/{shard}/risk_of_bias.parquet", shard=SHARDS),
        config["registry"],
        double_extraction_for_merge,
    output:
        harmonized="results/harmonized/outcomes.parquet",
        characteristics="results/harmonized/study_characteristics.parquet",
        issues="results/validation/issues.parquet",
        summary="results/validation/summary.json",
        report="results/validation/report.txt",
        lineage="results/provenance/lineage_harmonize.parquet",
        risk_of_bias="results/harmonized/risk_of_bias.parquet",
    log:
        "results/logs/merge_shards.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=corpus_mem_mb(1500, 1000),
        runtime=10,
    params:
        shard_dirs=expand("results/shards/{shard}", shard=SHARDS),
        double_extraction=double_extraction_for_merge,
    script:
        "../../scripts/merge_shards.py"
