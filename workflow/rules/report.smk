# Forest plots and the self-contained HTML report.


rule forest_plots:
    """Forest plots per outcome x window x measure (main analysis, subgroups, mortality/survival across windows); the set depends on the data, so results/forest/index.json lists what was drawn."""
    input:
        pooled=rules.synthesize.output.pooled,
        comparisons=rules.synthesize.output.comparisons,
    output:
        figures=report(
            directory("results/forest/figures"),
            patterns=["{name}.png"],
            caption="../report/forest.rst",
            category="Forest plots",
        ),
        manifest="results/forest/index.json",
    log:
        "results/logs/forest_plots.log",
    conda:
        "../../environment.yml"
    threads: 2  # independent figures, drawn in parallel worker processes
    resources:
        mem_mb=corpus_mem_mb(1500, 1500),
        runtime=15,
    params:
        settings=config["forest"],
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/draw_forests.py"


rule risk_of_bias_figures:
    """Risk-of-bias traffic light of the studies behind the summary of findings, and per pooled summary-of-findings result the judgements weighted by pool weight; the set of bar charts depends on the data, so results/risk_of_bias/index.json lists what was drawn."""
    input:
        risk_of_bias=rules.merge_shards.output.risk_of_bias,
        summary_of_findings=rules.synthesize.output.summary_of_findings,
        pooled=rules.synthesize.output.pooled,
    output:
        figures=report(
            directory("results/risk_of_bias/figures"),
            patterns=["{name}.png"],
            caption="../report/risk_of_bias.rst",
            category="Risk of bias",
        ),
        manifest="results/risk_of_bias/index.json",
    log:
        "results/logs/risk_of_bias_figures.log",
    conda:
        "../../environment.yml"
    # one process: it runs beside provenance_lineage (with 2 it waited for both cores to be free)
    threads: 1
    resources:
        mem_mb=corpus_mem_mb(1000, 1000),
        runtime=10,
    params:
        formats=config["figures"]["formats"],
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/draw_risk_of_bias.py"


rule report:
    """One self-contained HTML page: the summary of findings with GRADE certainty, evidence gaps and risk of bias first, then comparisons, studies, figures, forest plots, pooled and published results, validation, run settings, audit trails."""
    input:
        manifest=rules.forest_plots.output.manifest,
        risk_of_bias_manifest=rules.risk_of_bias_figures.output.manifest,
        risk_of_bias=rules.merge_shards.output.risk_of_bias,
        figures=rules.figures.output,
        synthesis=rules.synthesize.output,
        harmonized=rules.merge_shards.output.harmonized,
        characteristics=rules.merge_shards.output.characteristics,
        issues=rules.merge_shards.output.issues,
        summary=rules.merge_shards.output.summary,
        double_extraction=DOUBLE_EXTRACTION,
        lineage=lineage_tables,
    output:
        html=report("results/report/index.html", caption="../report/html_report.rst", category="Report"),
        # a page over 20 MB has its forest plots on pages of their own here (empty otherwise)
        forest_pages=directory("results/report/forests"),
    log:
        "results/logs/report.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=corpus_mem_mb(1000, 2000),
        runtime=20,
    params:
        results=results_dir,
        settings=config["report"],
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/build_report.py"
