"""The leaderboard: every detector on the same noise files, scored the same way, with its cost.

A *detector* is a suspicion score plus a decision:

* from a training run: (method, signal) — e.g. ALSO-min's weight π, AdamW's loss, its running
  mean, its area under the margin — with the run's last epoch, and one of two decisions on the
  same score: the Beta mixture (``BMM``, the paper's) or DivideMix's Gaussian mixture (``GMM``);
* from cross-validation (:mod:`alsofilter.detectors.confident_learning`): cleanlab on the out-of-sample probabilities
  of the network (``cleanlab_network``) or of a pixel classifier (``cleanlab_pixels``), with
  cleanlab's own decision.

Per scenario the table has one row per score, mean ± std over seeds: its ROC-AUC, average
precision and precision at the noise rate (which do not depend on the decision), then each of its
decisions' precision / recall / F1 / estimated noise rate side by side (``precision_bmm``, …,
``f1_gmm``, ``noise_rate_est_cleanlab``), and the cost — training jobs and their total seconds
(Snakemake's benchmark files: wall seconds of the ``train`` job, of the K ``crossval_fold`` jobs,
or of the pixel-classifier job). The rows are computed per seed with one row per score and
decision (:func:`run_detections`, :func:`crossval_detections`) and folded by :func:`aggregate`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.detectors.early_stopping import stop_epoch
from alsofilter.io import write_text_atomic
from alsofilter.config.settings import base_method
from alsofilter.names import OURS, OURS_SCORE, crossval_label, detector_label, score_label
from alsofilter.reporting.aggregate import delta_with_interval, mean_pm_std, mean_std_over_seeds
from alsofilter.reporting.figures import fitted_range, save_figure, scenario_title
from alsofilter.reporting.paired import (DEFAULT_BOOTSTRAP, bootstrap_f1, bootstrap_metrics, bootstrap_size,
                                         paired_comparisons, resample_indices)

SCENARIO = list(SCENARIO_KEYS)
#: metrics of a score: the same whichever decision is taken on it
SCORE_METRICS = ["auc", "ap", "precision_at_noise_rate"]
#: metrics of a decision on a score: one column group per decision in leaderboard.csv
DECISION_METRICS = ["precision", "recall", "f1", "noise_rate_est"]
#: what a per-seed detection row holds (one row per score and decision)
SCORES = SCORE_METRICS + DECISION_METRICS
#: the reference scores every score is compared with, per scenario
ROLES = {"ours": "the paper's method", "best": "the best score by ROC-AUC"}


def benchmark_seconds(paths: Iterable[str | Path]) -> float:
    """Sum of the wall seconds (column ``s``) of Snakemake benchmark files."""
    return float(sum(pd.read_csv(p, sep="\t")["s"].iloc[0] for p in paths))


#: the in-run signal that is also read at an early-stopping epoch (AdamW only)
STOPPED_SIGNAL = ("adamw", "loss", "loss_stopped")


def early_stop_epoch(metrics: pd.DataFrame, history: pd.DataFrame) -> int | None:
    """The epoch :func:`alsofilter.detectors.early_stopping.stop_epoch` picks for an AdamW run's
    loss from its training accuracy and the Gaussian mixture's noise estimate; None where the
    run recorded neither."""
    loss = metrics[metrics["signal"] == STOPPED_SIGNAL[1]].sort_values("epoch")
    if loss.empty or "noise_rate_est_gmm" not in loss or "train_acc" not in history:
        return None
    acc = history.set_index("epoch")["train_acc"].reindex(loss["epoch"]).to_numpy()
    return int(loss["epoch"].iloc[stop_epoch(acc, loss["noise_rate_est_gmm"].to_numpy()) - 1])


def run_detections(run: Mapping, metrics_csv, train_benchmark, history_csv=None) -> pd.DataFrame:
    """Rows of one training run: each signal at the last epoch, with the BMM and the GMM decision;
    for AdamW with its ``history_csv``, also its loss at the early-stopping epoch
    (:data:`STOPPED_SIGNAL`, column ``epoch``)."""
    metrics = pd.read_csv(metrics_csv)
    seconds = benchmark_seconds([train_benchmark])
    rows = []
    groups = [(signal, table, table.loc[table["epoch"].idxmax()]) for signal, table in metrics.groupby("signal", sort=False)]
    if run["method"] == STOPPED_SIGNAL[0] and history_csv is not None:
        stop = early_stop_epoch(metrics, pd.read_csv(history_csv))
        if stop is not None:
            loss = metrics[metrics["signal"] == STOPPED_SIGNAL[1]]
            groups.append((STOPPED_SIGNAL[2], loss, loss[loss["epoch"] == stop].iloc[0]))
    for signal, table, last in groups:
        base = {k: run[k] for k in SCENARIO + ["seed"]}
        base.update(method=run["method"], signal=signal, auc=last["auc"], ap=last["ap"],
                    training_jobs=1, training_seconds=seconds, epoch=int(last["epoch"]))
        rows.append({**base, "detector": detector_label(run["method"], signal, "bmm"), "decision": "BMM",
                     **{k: last[k] for k in ("precision", "recall", "f1", "noise_rate_est")},
                     "precision_at_noise_rate": last.get("precision_at_noise_rate", np.nan)})
        if "f1_gmm" in last.index:
            rows.append({**base, "detector": detector_label(run["method"], signal, "gmm"), "decision": "GMM",
                         **{k: last[f"{k}_gmm"] for k in ("precision", "recall", "f1", "noise_rate_est")},
                         "precision_at_noise_rate": last.get("precision_at_noise_rate", np.nan)})
    return pd.DataFrame(rows)


def crossval_detections(scenario: Mapping, detector: str, metrics_csv, benchmarks: Sequence,
                        folds: int) -> pd.DataFrame:
    """The row of one cross-validated detector on one (scenario, seed)."""
    row = pd.read_csv(metrics_csv).iloc[0]
    out = {k: scenario[k] for k in SCENARIO + ["seed"]}
    out.update(method="crossval", signal=detector, decision="cleanlab",
               detector=crossval_label(detector, folds, detection_classifier(metrics_csv)),
               training_jobs=folds if detector == "cleanlab_network" else 0,
               training_seconds=benchmark_seconds(benchmarks),
               **{k: row.get(k, np.nan) for k in SCORES})
    return pd.DataFrame([out])


def score_name(detector: str, decision: str) -> str:
    """The score a per-seed detection row belongs to: its detector's name without the decision
    (``ALSO-min π + BMM`` → ``ALSO-min π``; a cross-validated detector's name is its score's)."""
    suffix = f" + {decision}"
    return detector[:-len(suffix)] if detector.endswith(suffix) else detector


def decision_key(decision: str) -> str:
    """A decision's suffix in the leaderboard's columns: ``BMM`` → ``bmm`` (``f1_bmm_mean``)."""
    return str(decision).lower()


def per_score(detections: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per (scenario, seed, score) of the per-seed ``detections`` (one row per score and
    decision, :func:`run_detections`, :func:`crossval_detections`): the score's metrics
    (:data:`SCORE_METRICS`, the same whichever decision) and each decision's
    (:data:`DECISION_METRICS`) as ``{metric}_{decision}`` (``f1_bmm``, ``f1_gmm``,
    ``f1_cleanlab``), with ``decisions`` naming those the score has. Returns the frame (score
    name in ``detector``) and the decisions in order of appearance."""
    d = detections.assign(**{m: np.nan for m in SCORES if m not in detections})   # e.g. an older run's metrics
    if "epoch" not in d:
        d = d.assign(epoch=np.nan)
    d = d.assign(score=[score_name(det, dec) for det, dec in zip(d["detector"], d["decision"])])
    keys = SCENARIO + ["seed", "score", "method", "signal"]
    grouped = d.groupby(keys, sort=False, dropna=False)
    wide = grouped[SCORE_METRICS + ["training_jobs", "training_seconds", "epoch"]].first()
    wide["decisions"] = grouped["decision"].agg(lambda s: ", ".join(dict.fromkeys(s)))
    decisions = list(dict.fromkeys(d["decision"]))
    for decision in decisions:
        part = d[d["decision"] == decision].set_index(keys)[DECISION_METRICS]
        part.columns = [f"{m}_{decision_key(decision)}" for m in DECISION_METRICS]
        wide = wide.join(part)
    return wide.reset_index().rename(columns={"score": "detector"}), decisions
def detection_classifier(metrics_csv) -> str:
    """The pixel classifier a cross-validated detection's metrics.csv names (``logreg`` when it
    names none: the network's, or a file from before the setting)."""
    row = pd.read_csv(metrics_csv).iloc[0]
    value = row.get("classifier", "logreg")
    return "logreg" if not isinstance(value, str) else value


def aggregate(detections: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard: one row per (scenario, score), mean and std over seeds of the score's
    metrics and of each of its decisions' (``precision_bmm_mean``, …, ``f1_gmm_std``,
    ``noise_rate_est_cleanlab_mean``; NaN where a score lacks that decision), sorted by mean AUC
    within a scenario (``rank``); ``training_seconds`` is the mean per seed; ``ours`` marks
    ALSO-min π, whose BMM decision is the paper's method."""
    wide, decisions = per_score(detections)
    values = SCORE_METRICS + [f"{m}_{decision_key(dec)}" for dec in decisions for m in DECISION_METRICS]
    keys = SCENARIO + ["detector", "method", "signal"]
    table = mean_std_over_seeds(wide, keys, values, means=["training_jobs", "training_seconds", "epoch"])
    labels = wide.groupby(keys, sort=False, dropna=False)["decisions"].first().reset_index()
    table = table.merge(labels, on=keys, how="left")
    table.insert(len(keys), "decisions", table.pop("decisions"))
    table["ours"] = table["detector"] == OURS_SCORE
    table = table.sort_values(SCENARIO + ["auc_mean"], ascending=[True] * len(SCENARIO) + [False],
                              kind="stable").reset_index(drop=True)
    table.insert(len(SCENARIO), "rank", table.groupby(SCENARIO, sort=False).cumcount() + 1)
    return table


def table_decisions(table: pd.DataFrame) -> list[str]:
    """The decisions the leaderboard ``table`` has columns for, in order (``["bmm", "gmm",
    "cleanlab"]``)."""
    return [c[:-len("_mean")].split("_", 1)[1] for c in table.columns
            if c.startswith("f1_") and c.endswith("_mean")]


def paired_against_references(table: pd.DataFrame | None, samples: Mapping[tuple, Mapping[str, tuple]],
                               n_boot: int = DEFAULT_BOOTSTRAP,
                               references: Mapping[tuple, Mapping[str, str]] | None = None) -> pd.DataFrame:
    """Every score against the paper's method and against the best score of its scenario,
    paired on the same samples and seeds (:mod:`alsofilter.reporting.paired`): the score's
    metrics, and the F1 of each decision against the reference's same decision (``f1_bmm``, …;
    a pair where one side lacks the decision is left out).

    table : :func:`aggregate`'s; samples : (dataset, arch, noise, rate, seed) → score →
    ``(is_noisy, score, {decision: flagged})``, (N,) arrays of its last epoch, decisions named
    as in the detections (``BMM``, ``GMM``, ``cleanlab``); references : scenario → {role: score}
    instead of the paper's method and the best of ``table`` (the scale ladder's AdamW references;
    ``table`` is then not read). Returns :func:`~alsofilter.reporting.paired.paired_comparisons`' rows."""
    boot, points, metrics = {}, [], list(SCORE_METRICS)
    for key, detectors in samples.items():
        n = len(next(iter(detectors.values()))[0])
        indices = resample_indices(n, min(n_boot, bootstrap_size(n)), seed=int(key[-1]))
        identity = np.arange(n)[None, :]
        boot[key] = {}
        for name, (is_noisy, score, flags) in detectors.items():
            first = next(iter(flags.values()), np.zeros(n, bool))
            resampled = bootstrap_metrics(is_noisy, score, first, indices)
            full = bootstrap_metrics(is_noisy, score, first, identity)
            values = {m: resampled[m] for m in SCORE_METRICS}
            point = {m: float(full[m][0]) for m in SCORE_METRICS}
            for decision, flagged in flags.items():
                column = f"f1_{decision_key(decision)}"
                values[column] = bootstrap_f1(is_noisy, flagged, indices)
                point[column] = float(bootstrap_f1(is_noisy, flagged, identity)[0])
                if column not in metrics:
                    metrics.append(column)
            boot[key][name] = values
            points.append({**dict(zip(SCENARIO + ["seed"], key)), "detector": name, **point})
    for key, detectors in boot.items():     # a decision a score lacks: NaN, so its pairs drop out
        for values in detectors.values():
            width = len(values["auc"])
            values.update({m: np.full(width, np.nan) for m in metrics if m not in values})
    if references is None:
        references = {}
        for scen, rows in table.groupby(SCENARIO, sort=False):
            roles = {"best": rows.iloc[0]["detector"]}             # aggregate() sorts by mean AUC
            if (rows["detector"] == OURS_SCORE).any():
                roles["ours"] = OURS_SCORE
            references[tuple(scen)] = roles
    columns = [*SCENARIO, "detector", "role", "reference", "metric", "delta", "low", "high", "seeds", "verdict"]
    if not points:
        return pd.DataFrame(columns=columns)
    paired = paired_comparisons(boot, pd.DataFrame(points).reindex(columns=[*SCENARIO, "seed", "detector", *metrics]),
                                SCENARIO, references, metrics=metrics)
    if paired.empty:
        return pd.DataFrame(columns=columns)
    return paired[np.isfinite(paired["delta"].astype(float))].reset_index(drop=True)


def with_verdicts(table: pd.DataFrame, paired: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """``table`` with, per role of :data:`ROLES`, the paired difference of ``metric`` to that
    reference and its interval and verdict: ``{metric}_vs_{role}``, ``…_low``, ``…_high``,
    ``verdict_vs_{role}``."""
    out = table.copy()
    for role in ROLES:
        part = paired[(paired["role"] == role) & (paired["metric"] == metric)] if len(paired) else paired
        part = part.set_index([*SCENARIO, "detector"]) if len(part) else None
        for column, source in ((f"{metric}_vs_{role}", "delta"), (f"{metric}_vs_{role}_low", "low"),
                               (f"{metric}_vs_{role}_high", "high"), (f"verdict_vs_{role}", "verdict")):
            keys = list(zip(*(out[c] for c in SCENARIO), out["detector"]))
            out[column] = [part[source].get(k, np.nan if source != "verdict" else "") if part is not None
                           else (np.nan if source != "verdict" else "") for k in keys]
    return out


def summary_sentences(rows: pd.DataFrame) -> list[str]:
    """What one scenario's verdicts say, in words (generated, never written by hand): the best
    score, where the paper's method stands against it, which scores are ahead of or behind the
    paper's method beyond noise, and what the paper's decision (the BMM on its π) and the GMM
    on the same π flag."""
    best = rows.iloc[0]
    seeds = int(rows["seeds"].max())
    lines = [f"Best by ROC-AUC: {best['detector']} ({best['auc_mean']:.3f})."]
    ours = rows[rows["detector"] == OURS_SCORE]
    if len(ours) and "verdict_vs_best" in rows:
        o = ours.iloc[0]
        if o["detector"] == best["detector"]:
            lines.append(f"{OURS_SCORE} (the paper's method) is the best score here.")
        else:
            word = {"behind": "behind it beyond noise", "ahead": "ahead of it beyond noise",
                    "within noise": "within noise of it"}.get(o["verdict_vs_best"], "not compared with it")
            lines.append(f"{OURS_SCORE} (the paper's method) is {word}: ROC-AUC "
                         f"{delta_with_interval(o['auc_vs_best'], o['auc_vs_best_low'], o['auc_vs_best_high'])}.")
        others = rows[rows["detector"] != OURS_SCORE]
        for verdict_word, phrase in (("behind", "Ahead of {ours} beyond noise"), ("ahead", "Behind {ours} beyond noise")):
            # a score is ahead of ours when ours is behind it: read its own verdict against ours
            names = others[others["verdict_vs_ours"] == ("ahead" if verdict_word == "behind" else "behind")]["detector"]
            # "; ": names such as "cleanlab, network 5-fold CV" hold commas
            lines.append(f"{phrase.format(ours=OURS_SCORE)}: {'; '.join(names) if len(names) else 'none'}.")
        within = int((others["verdict_vs_ours"] == "within noise").sum())
        lines.append(f"Within noise of {OURS_SCORE}: {within} score{'s' if within != 1 else ''}.")
        stopped = rows[rows["detector"] == score_label(STOPPED_SIGNAL[0], STOPPED_SIGNAL[2])]
        if len(stopped):
            s = stopped.iloc[0]
            word = {"ahead": "ahead of", "behind": "behind", "within noise": "within noise of"}.get(s["verdict_vs_ours"], "not compared with")
            lines.append(f"Without clean labels, AdamW stopped early (epoch {s['epoch']:.1f} on average) is {word} "
                         f"{OURS_SCORE}: ROC-AUC {delta_with_interval(s['auc_vs_ours'], s['auc_vs_ours_low'], s['auc_vs_ours_high'])}.")
        decided = [(d, o.get(f"f1_{d}_mean", np.nan), o.get(f"noise_rate_est_{d}_mean", np.nan)) for d in ("bmm", "gmm")]
        decided = [f"{d.upper()} F1 {f1:.3f}, estimated noise rate {rate:.3f}" for d, f1, rate in decided if np.isfinite(f1)]
        if decided:
            lines.append(f"Decisions on {OURS_SCORE}: " + "; ".join(decided) + f" (the paper's: {OURS}).")
    if seeds == 1:
        lines.append("One seed: the intervals cover the finite sample only, not another run.")
    return lines


def _decision_cell(row: pd.Series, decision: str) -> str:
    """``0.912 / 0.851 / 0.880 / 0.381``: a decision's precision / recall / F1 / estimated noise
    rate (means over seeds), ``–`` where the score has no such decision."""
    values = [row.get(f"{m}_{decision}_mean", np.nan) for m in DECISION_METRICS]
    if not np.isfinite(values).any():
        return "–"
    return " / ".join("–" if not np.isfinite(v) else f"{v:.3f}" for v in values)


def _decision_header(decision: str) -> str:
    return {"bmm": "BMM", "gmm": "GMM"}.get(decision, decision)


def markdown(table: pd.DataFrame) -> str:
    """One Markdown table per scenario, one row per score: ROC-AUC, AP and P@k, each decision's
    precision / recall / F1 / estimated rate side by side, the paired differences of ROC-AUC to
    the paper's method and to the best score with their 95 % intervals, and the verdicts in words."""
    decisions = table_decisions(table)
    parts = ["# Leaderboard: every detector on the same noise files (final epoch, mean over seeds)",
             "", f"One row per score, sorted by ROC-AUC. **Bold**: {OURS_SCORE}, whose BMM decision is the "
             f"paper's method ({OURS}). ROC-AUC, AP and P@k (precision when as many samples are flagged "
             "as are mislabeled) rate the score, whichever decision is taken on it: mean ± std over seeds. "
             + ", ".join(_decision_header(d) for d in decisions) + ": each decision on that score (BMM: the "
             "paper's Beta mixture; GMM: DivideMix's Gaussian mixture; cleanlab: its own "
             "find_label_issues), as precision / recall / F1 / estimated noise rate, means over seeds "
             "(their std: leaderboard.csv); – where the score has no such decision. vs ours / vs best: "
             "the paired difference of ROC-AUC (this score minus the reference, mean over seeds) with its "
             "95 % interval (bootstrap over samples within each seed combined with the spread over seeds, "
             "docs/results.md). Cost: training jobs of a network and their total wall seconds per seed "
             "(Snakemake benchmarks).", ""]
    has_paired = "verdict_vs_ours" in table
    for scen, rows in table.groupby(SCENARIO, sort=False):
        dataset, arch, noise, rate = scen
        here = [d for d in decisions if rows[f"f1_{d}_mean"].notna().any()]
        seeds = int(rows["seeds"].max())
        parts += [f"## {dataset}, {arch}, {noise} {rate:g} ({seeds} seed{'s' if seeds != 1 else ''})", "",
                  "| rank | score | ROC-AUC | AP | P@k | "
                  + "".join(f"{_decision_header(d)}: P / R / F1 / rate | " for d in here)
                  + ("vs ours | vs best | " if has_paired else "") + "jobs | seconds |",
                  "|---:|---|---|---|---|" + "---|" * len(here) + ("---|---|" if has_paired else "") + "---:|---:|"]
        for _, r in rows.iterrows():
            name = f"**{r['detector']}**" if r["ours"] else r["detector"]
            if r["signal"] == STOPPED_SIGNAL[2] and np.isfinite(r.get("epoch", np.nan)):
                name += f" (epoch {r['epoch']:.1f})"
            cells = [mean_pm_std(r[f"{m}_mean"], r[f"{m}_std"]) for m in SCORE_METRICS]
            cells += [_decision_cell(r, d) for d in here]
            if has_paired:
                for role in ROLES:
                    text = delta_with_interval(r[f"auc_vs_{role}"], r[f"auc_vs_{role}_low"], r[f"auc_vs_{role}_high"])
                    v = r[f"verdict_vs_{role}"]
                    cells.append("reference" if v == "reference" else f"{text} {v}".strip())
            parts.append(f"| {r['rank']} | {name} | " + " | ".join(cells)
                         + f" | {r['training_jobs']:g} | {r['training_seconds']:.0f} |")
        if has_paired:
            parts += [""] + summary_sentences(rows)
        parts.append("")
    return "\n".join(parts)


def write_leaderboard(detections: pd.DataFrame, out_csv, out_md, samples: Mapping | None = None,
                      out_paired=None, n_boot: int = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Aggregate, compare (when the per-sample ``samples`` are given) and write the CSV, the
    Markdown and, with ``out_paired``, every paired comparison (all metrics, both references)."""
    table = aggregate(detections)
    if samples:
        paired = paired_against_references(table, samples, n_boot)
        table = with_verdicts(table, paired)
        if out_paired is not None:
            write_text_atomic(out_paired, paired.to_csv(index=False))
    write_text_atomic(out_csv, table.to_csv(index=False))
    write_text_atomic(out_md, markdown(table))
    return table


#: colour of a score's family: the method its run trains with (a variant: its method's), or cleanlab
FAMILY_COLORS = {"also-min": "tab:blue", "adamw": "tab:red", "crossval": "tab:green", "also-max": "0.55"}
FAMILY_LABELS = {"also-min": "ALSO-min (and its variants)", "adamw": "AdamW", "crossval": "cleanlab (cross-validated)",
                 "also-max": "ALSO-max"}
#: marker of each decision in the F1 panel (other decisions: a diamond)
DECISION_MARKERS = {"bmm": "o", "gmm": "^", "cleanlab": "s"}


def method_family(method: str) -> str:
    """``also-min`` for ``also-min`` and its variants, ``crossval`` for cleanlab, else the method."""
    if method == "crossval":
        return method
    try:
        return base_method(method)
    except ValueError:
        return method


def plot_leaderboard(table: pd.DataFrame, out_paths) -> None:
    """Per scenario, two panels sharing one row per score, best at the top. Left: ROC-AUC at the
    final epoch (dot, mean over seeds) with the 95 % interval of its paired difference to the
    paper's method drawn around the dot (± std over seeds without paired comparisons), on an axis
    fitted to the data; the dashed line is the paper's method: a whisker that crosses it is within
    noise of it. The paper's method is a star with its name in bold, the best score has a ring.
    Right: the F1 of each decision on the score (BMM ○, GMM △, cleanlab □), its own fitted axis.
    Colour: the method the score comes from (ALSO-min blue, AdamW red, cleanlab green, ALSO-max grey)."""
    scenarios = list(table.groupby(SCENARIO, sort=False))
    decisions = table_decisions(table)
    ncols = min(2, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    height = 0.24 * max(len(g) for _, g in scenarios) + 1.3
    fig = plt.figure(figsize=(8.6 * ncols, height * nrows + 0.5), layout="constrained")
    panels = fig.subfigures(nrows, ncols, squeeze=False)     # each lays out its own labels
    paired = "auc_vs_ours_low" in table and table["auc_vs_ours_low"].notna().any()
    for panel in panels.flat[len(scenarios):]:
        panel.set_visible(False)
    for panel, (scen, rows) in zip(panels.flat, scenarios):
        ax, ax_f1 = panel.subplots(1, 2, sharey=True, width_ratios=[3.2, 1.2])
        best = rows.iloc[0]["detector"]                       # aggregate() sorts by mean AUC
        rows = rows.iloc[::-1]                                 # best on top
        y = np.arange(len(rows))
        auc = rows["auc_mean"].to_numpy(float)
        if paired:
            below = (rows["auc_vs_ours"] - rows["auc_vs_ours_low"]).to_numpy(float)
            above = (rows["auc_vs_ours_high"] - rows["auc_vs_ours"]).to_numpy(float)
        else:
            below = above = rows["auc_std"].to_numpy(float)
        below, above = np.nan_to_num(np.clip(below, 0, None)), np.nan_to_num(np.clip(above, 0, None))
        colors = [FAMILY_COLORS.get(method_family(m), "0.3") for m in rows["method"]]
        is_ours = (rows["detector"] == OURS_SCORE).to_numpy()
        is_best = (rows["detector"] == best).to_numpy()
        for k in range(len(rows)):
            ax.errorbar(auc[k], y[k], xerr=[[below[k]], [above[k]]], fmt="none", ecolor=colors[k], elinewidth=1.4,
                        capsize=2.5, alpha=0.9)
        ax.scatter(auc[~is_ours], y[~is_ours], c=[col for col, o in zip(colors, is_ours) if not o], s=30, zorder=3)
        if is_ours.any():
            ax.scatter(auc[is_ours], y[is_ours], marker="*", s=170, c="tab:blue", edgecolors="black",
                       linewidths=0.6, zorder=4, label=f"{OURS_SCORE} + BMM: the paper's method")
            ax.axvline(auc[is_ours][0], color="tab:blue", lw=0.9, ls="--", zorder=1)
        ax.scatter(auc[is_best], y[is_best], s=240, facecolors="none", edgecolors="goldenrod", linewidths=1.8,
                   zorder=5, label="best by ROC-AUC")
        lo, hi = fitted_range(np.concatenate([auc - below, auc + above]))
        ax.set_xlim(lo, hi)
        if lo < 0.5 < hi:
            ax.axvline(0.5, color="0.3", lw=0.8, ls=":", zorder=1)
        labels = [f"{name}  {value:.3f}" if np.isfinite(value) else name for name, value in zip(rows["detector"], auc)]
        ax.set_yticks(y, labels, fontsize=8)
        for tick, ours in zip(ax.get_yticklabels(), is_ours):
            tick.set_fontweight("bold" if ours else "normal")
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel("ROC-AUC, final epoch" + (f" (whisker: 95 % paired interval vs {OURS_SCORE})" if paired
                                                 else " (whisker: ± std over seeds)"), fontsize=8)
        ax.set_title(f"{scenario_title(*scen)} ({int(rows['seeds'].max())} seed{'s' if rows['seeds'].max() > 1 else ''})",
                     fontsize=10, loc="left")
        f1_values = []
        for d in decisions:
            values = rows[f"f1_{d}_mean"].to_numpy(float)
            f1_values.append(values)
            ax_f1.scatter(values, y, marker=DECISION_MARKERS.get(d, "D"), s=26, c=colors, edgecolors="black",
                          linewidths=0.4, zorder=3, label=f"{_decision_header(d)} decision")
        ax_f1.set_xlim(*fitted_range(np.concatenate(f1_values) if f1_values else []))
        ax_f1.tick_params(axis="y", labelleft=False)
        ax_f1.grid(axis="x", color="0.9", lw=0.6)
        ax_f1.set_axisbelow(True)
        ax_f1.set_xlabel("F1 of each decision", fontsize=8)
    handles = {}
    for ax in (a for panel in panels.flat for a in panel.axes):
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    families = dict.fromkeys(method_family(m) for m in table["method"])
    for family in families:
        handles.setdefault(FAMILY_LABELS.get(family, family), plt.Line2D(
            [], [], ls="none", marker="o", color=FAMILY_COLORS.get(family, "0.3")))
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(4, len(handles)), fontsize=8,
               frameon=False)
    save_figure(fig, out_paths)
