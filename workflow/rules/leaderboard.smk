# The leaderboard: every detector (in-run signals with BMM and GMM decisions, cleanlab on
# cross-validated probabilities) on the same noise files, with its cost (alsofilter.leaderboard).


def leaderboard_crossval():
    """detector -> [(scenario key, metrics.csv, [benchmark .tsv of its training jobs])]."""
    out = {}
    for detector, paths in crossval_outputs().items():
        items = []
        for scen, metrics in zip(SCENARIO_SEEDS, paths):
            wc = {**scen, "rate": format_rate(scen["rate"])}
            if detector == "cleanlab_network":
                bench = [f"{BENCH}/crossval_fold/{{dataset}}/{{arch}}/{{noise}}-{{rate}}-seed{{seed}}/"
                         f"fold{k}.tsv".format(**wc) for k in range(CV_FOLDS)]
            else:
                bench = [f"{BENCH}/crossval_cleanlab_pixels/{{dataset}}/{{noise}}-{{rate}}-seed{{seed}}.tsv"
                         .format(**wc)]
            items.append((scen, metrics, bench))
        out[detector] = items
    return out


def leaderboard_inputs():
    files = []
    for items in leaderboard_crossval().values():
        for _, metrics, bench in items:
            files += [metrics, *bench]
    return files


rule leaderboard:
    """Per scenario: every detector's final ROC-AUC, AP, decision precision/recall/F1 and cost."""
    input:
        metrics=run_paths("metrics.csv"),
        train_benchmarks=[f"{BENCH}/train/{RUN_PATTERN.format(**r.wildcards())}.tsv" for r in RUNS],
        crossval=leaderboard_inputs(),
    output:
        csv=report(f"{RESULTS}/tables/leaderboard.csv", caption="../report/leaderboard_table.rst",
                   category="Leaderboard"),
        md=f"{RESULTS}/tables/leaderboard.md",
        png=report(f"{RESULTS}/figures/leaderboard.png", caption="../report/leaderboard.rst",
                   category="Leaderboard"),
        pdf=f"{RESULTS}/figures/leaderboard.pdf",
    params:
        runs=run_keys(),
        crossval=leaderboard_crossval(),
        folds=CV_FOLDS,
    log:
        f"{LOGS}/leaderboard.log",
    benchmark:
        f"{BENCH}/leaderboard.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/leaderboard.py"
