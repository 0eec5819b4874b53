rule figures:
    """Arm means with 95% CI over time per outcome, and the evidence map."""
    input:
        harmonized=rules.merge_shards.output.harmonized,
        registry=config["registry"],
    output:
        arm_means=report(
            expand(
                "results/figures/arm_means_{outcome}.{fmt}",
                outcome=config["figures"]["outcomes"],
                fmt=config["figures"]["formats"],
            ),
            caption="../report/arm_means.rst",
            category="Harmonized outcomes",
        ),
        evidence_map=report(
            expand("results/figures/evidence_map.{fmt}", fmt=config["figures"]["formats"]),
            caption="../report/evidence_map.rst",
            category="Evidence map",
        ),
    log:
        "results/logs/figures.log",
    conda:
        "../../environment.yml"
    # one process: this job runs beside synthesize, which keeps the other core busy (with 2 it waited its turn)
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        outcomes=config["figures"]["outcomes"],
        formats=config["figures"]["formats"],
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/draw_figures.py"
