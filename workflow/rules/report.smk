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
    script:
        "../../scripts/draw_forests.py"


rule report:
    """One self-contained HTML page: settings, studies, figures, forest plots, pooled and published results, validation, audit trails."""
    input:
        manifest=rules.forest_plots.output.manifest,
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
    script:
        "../../scripts/build_report.py"
