"""The paper's figures: ROC-AUC per epoch, BMM fits, memorization.

Colours follow the poster: ALSO-min blue, AdamW red (ALSO-max green). Every figure is saved
to each of ``out_paths`` by :func:`alsofilter.reporting.figures.save_figure` (dpi 150, tight bbox).
"""
from __future__ import annotations

import zlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from scipy import stats

from alsofilter.config.grid import SCENARIO_KEYS
from alsofilter.config.settings import base_method
from alsofilter.detectors.bmm import apply_normalisation
from alsofilter.detectors.signals import suspicion_score
from alsofilter.names import method_label, signal_label
from alsofilter.reporting.figures import save_figure, scenario_title

METHOD_COLORS = {"also-min": "tab:blue", "adamw": "tab:red", "also-max": "tab:green"}
DEFAULT_CURVES = (("also-min", "weight"), ("adamw", "loss"), ("also-max", "weight"))
#: colours of the config's method variants (``also-min-da``), chosen by name so a variant keeps its
#: colour in every figure
VARIANT_COLORS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def method_color(method: str) -> str:
    """A method's colour; a variant's from :data:`VARIANT_COLORS` by a stable hash of its name."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return VARIANT_COLORS[zlib.crc32(method.encode()) % len(VARIANT_COLORS)]


def with_variants(curves, methods) -> list[tuple]:
    """``curves`` (tuples starting ``(method, signal, ...)``) plus the same for every variant in
    ``methods`` whose method has a curve: ``also-min-da`` gets ALSO-min's signal (and the rest)."""
    out = list(curves)
    for method in dict.fromkeys(methods):
        if method in METHOD_COLORS:
            continue
        try:
            base = base_method(str(method))
        except ValueError:
            continue
        out += [(method, *rest) for m, *rest in curves if m == base]
    return out
MEM_COLUMNS = (("mem_correct", "correct", "tab:green"),
               ("mem_memorized", "memorized", "tab:red"),
               ("mem_incorrect", "incorrect", "tab:gray"))
XLABELS = {"weight": "normalised −N·π", "loss": "normalised loss"}


def _curve_label(method: str, signal: str) -> str:
    return f"{method_label(method)} ({signal_label(signal)})"


def _grid(n: int, ncols: int, width: float = 4.8, height: float = 3.4, **kw):
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, **kw)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _band(ax, table: pd.DataFrame, column: str, color: str, label: str, ls: str = "-"):
    """Mean over seeds per epoch, with a min..max band."""
    g = table.groupby("epoch")[column].agg(["mean", "min", "max"]).sort_index()
    ax.plot(g.index, g["mean"], color=color, ls=ls, lw=1.6, label=label)
    ax.fill_between(g.index, g["min"], g["max"], color=color, alpha=0.2, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend_below(fig, handles, labels, ncol=None):
    fig.legend(handles, labels, loc="lower center", ncol=ncol or len(handles),
               frameon=False, bbox_to_anchor=(0.5, 0.0))


def _empty_figure(out_paths, text: str):
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return save_figure(fig, out_paths)


# ----------------------------------------------------------------------------- figure: AUC
#: reference statistic -> (legend label, line style)
REFERENCE_STYLES = {"final": ("paper, final (fig. 3)", "--"), "peak": ("paper, peak (fig. 3)", ":")}


def _reference_lines(ax, reference: pd.DataFrame, scen, data: pd.DataFrame) -> None:
    """Thin dashed lines at the paper's values for this scenario (only for methods we ran), and
    a marker at the epoch the paper reports a value at when our curves reach that epoch."""
    ref = reference.copy()
    ref_sel = np.ones(len(ref), dtype=bool)
    for key, value in scen._asdict().items():
        col = ref[key]
        ref_sel &= (np.isclose(col.to_numpy(dtype=float), float(value)) if key == "rate"
                    else (col == value).to_numpy())
    ran = set(data["method"])
    last_epoch = data["epoch"].max() if len(data) else 0
    for row in ref[ref_sel].itertuples(index=False):
        if row.method not in ran:
            continue
        color = method_color(row.method)
        label, ls = REFERENCE_STYLES.get(getattr(row, "statistic", "final"), ("paper (fig. 3)", "--"))
        ax.axhline(row.value, color=color, ls=ls, lw=0.8, alpha=0.8, label=label)
        epoch = getattr(row, "epoch", None)
        if epoch is not None and np.isfinite(epoch) and epoch <= last_epoch:
            ax.plot([epoch], [row.value], marker="o", ms=4, mfc="none", color=color, lw=0)


def plot_auc_curves(per_epoch: pd.DataFrame, out_paths, curves=DEFAULT_CURVES,
                    reference: pd.DataFrame | None = None):
    """ROC-AUC per epoch, one panel per scenario, a line (mean, min..max band) per curve (and per
    variant of a curve's method, :func:`with_variants`)."""
    curves = with_variants(curves, per_epoch["method"]) if "method" in per_epoch else list(curves)
    scenarios = per_epoch[list(SCENARIO_KEYS)].drop_duplicates().sort_values(list(SCENARIO_KEYS))
    if scenarios.empty:
        return _empty_figure(out_paths, "no runs")
    fig, axes = _grid(len(scenarios), ncols=2, sharey=True)
    legend: dict[str, object] = {}
    for ax, scen in zip(axes.flat, scenarios.itertuples(index=False)):
        sel = (per_epoch[list(SCENARIO_KEYS)] == pd.Series(scen._asdict())).all(axis=1)
        data = per_epoch[sel]
        seen: dict[str, int] = {}
        for method, signal in curves:
            d = data[(data["method"] == method) & (data["signal"] == signal)]
            if d.empty:
                continue
            ls = ("-", "--", ":")[min(seen.get(method, 0), 2)]
            seen[method] = seen.get(method, 0) + 1
            _band(ax, d, "auc", method_color(method), _curve_label(method, signal), ls)
        if reference is not None and len(reference):
            _reference_lines(ax, reference, scen, data)
        ax.set_title(scenario_title(*scen), fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, h)
    for ax in axes[:, 0]:
        ax.set_ylabel("ROC-AUC (noisy vs clean)")
    lo = np.nanmin(per_epoch["auc"].to_numpy(dtype=float)) if per_epoch["auc"].notna().any() else 0.5
    axes[0, 0].set_ylim(min(0.45, np.floor(lo * 20) / 20), 1.005)
    for label, ls in REFERENCE_STYLES.values():  # neutral colour for the shared reference entries
        if label in legend:
            legend[label] = Line2D([], [], color="black", ls=ls, lw=0.8)
    fig.tight_layout(rect=(0, 0.1 if len(scenarios) <= 2 else 0.05, 1, 1))
    _legend_below(fig, list(legend.values()), list(legend.keys()))
    return save_figure(fig, out_paths)


# ----------------------------------------------------------------------------- figure: BMM
def plot_bmm_fits(panels: list[dict], out_paths, bins: int = 50):
    """Density histogram of normalised values with the two weighted Beta components and their sum."""
    if not panels:
        return _empty_figure(out_paths, "no BMM panels")
    fig, axes = _grid(len(panels), ncols=2)
    x = np.linspace(1e-3, 1 - 1e-3, 500)
    for ax, p in zip(axes.flat, panels):
        values = np.asarray(p["values"], dtype=float)
        heights, _, _ = ax.hist(values, bins=bins, range=(0, 1), density=True,
                                color="0.75", edgecolor="0.6", lw=0.3, label="data")
        top = heights.max() if heights.size else 1.0
        if p.get("ok", True) and p.get("alpha") is not None:
            comps = [w * stats.beta.pdf(x, a, b)
                     for a, b, w in zip(p["alpha"], p["beta"], p["weight"])]
            ax.plot(x, comps[0], color="tab:blue", lw=1.6, label="clean component")
            ax.plot(x, comps[1], color="tab:orange", lw=1.6, label="noisy component")
            ax.plot(x, comps[0] + comps[1], color="black", lw=1.0, ls="--", label="mixture")
            # Beta densities with a < 1 or b < 1 diverge at the edges: do not let them flatten the histogram
            peak = np.nanmax(comps[0] + comps[1])
            top = max(top, min(peak, 2.5 * top))
        else:
            ax.text(0.5, 0.9, "BMM fit failed", transform=ax.transAxes, ha="center",
                    color="tab:red")
        ax.set_ylim(0, 1.1 * top)
        ax.set_xlim(0, 1)
        ax.set_title(p.get("title", ""), fontsize=10)
        ax.set_xlabel(p.get("xlabel", "normalised value"))
        ax.set_ylabel("density")
        ax.legend(fontsize=8, framealpha=0.8)
    fig.tight_layout()
    return save_figure(fig, out_paths)


BMM_SPECS = (("also-min", "weight", "last"), ("adamw", "loss", "best"))


def bmm_fit_panels(runs: list[dict], specs=BMM_SPECS) -> list[dict]:
    """Panels for :func:`plot_bmm_fits`: per scenario (lowest seed), one panel per spec.

    A spec is ``(method, signal, when)``; ``when`` is ``"last"`` (last epoch) or ``"best"``
    (the epoch of the signal's best ROC-AUC, the "turning point" of AdamW).
    """
    table = pd.DataFrame(runs)
    if table.empty:
        return []
    specs = with_variants(specs, table["method"])
    panels = []
    for scen, group in table.groupby(list(SCENARIO_KEYS), sort=True):
        for method, signal, when in specs:
            cand = group[group["method"] == method]
            if cand.empty:
                continue
            run = cand.sort_values("seed").iloc[0]
            metrics = pd.read_csv(run["metrics_path"])
            m = metrics[metrics["signal"] == signal].sort_values("epoch")
            if m.empty:
                continue
            row = m.loc[m["auc"].idxmax()] if when == "best" else m.iloc[-1]
            epoch = int(row["epoch"])
            with np.load(run["signals_path"]) as rec, np.load(run["mixture_path"]) as mix:
                score = suspicion_score(signal, rec)
                epochs = score.shape[0]
                e = epoch - 1 if epoch <= epochs else epochs - 1
                lo, hi = mix[f"{signal}/lo"][e], mix[f"{signal}/hi"][e]
                values = apply_normalisation(score[e], lo, hi)
                fit = {k: np.asarray(mix[f"{signal}/{k}"][e]) for k in ("alpha", "beta", "weight")}
                ok = bool(mix[f"{signal}/ok"][e])
            panels.append({
                "title": (f"{_curve_label(method, signal)}, epoch {e + 1}, AUC {row['auc']:.3f}\n"
                          f"{scenario_title(*scen)} · seed {run['seed']}"),
                "values": values, **fit, "ok": ok,
                "xlabel": XLABELS.get(signal, f"normalised {signal} score"),
                "method": method, "signal": signal, "epoch": e + 1,
            })
    return panels


# ----------------------------------------------------------------------------- figure: memorization
def plot_memorization(histories: pd.DataFrame, out_paths, methods=("adamw", "also-min")):
    """Fractions of mislabeled samples predicted correct / memorized / incorrect, per epoch, for
    ``methods`` and the variants of theirs that ran."""
    if "method" in histories:
        methods = [m for m, *_ in with_variants([(m,) for m in methods], histories["method"])]
    methods = [m for m in methods if m in set(histories["method"])]
    scenarios = histories[list(SCENARIO_KEYS)].drop_duplicates().sort_values(list(SCENARIO_KEYS))
    if not methods or scenarios.empty:
        return _empty_figure(out_paths, "no histories")
    nrows, ncols = len(scenarios), len(methods)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows), squeeze=False,
                             sharex=True, sharey=True)
    for i, scen in enumerate(scenarios.itertuples(index=False)):
        sel = (histories[list(SCENARIO_KEYS)] == pd.Series(scen._asdict())).all(axis=1)
        for j, method in enumerate(methods):
            ax = axes[i, j]
            d = histories[sel & (histories["method"] == method)]
            if d.empty:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
            for col, label, color in MEM_COLUMNS:
                if not d.empty:
                    _band(ax, d, col, color, label)
            ax.set_title(f"{scenario_title(*scen)}\n{method_label(method)}", fontsize=10)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            if i == nrows - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel("fraction of mislabeled")
    handles = [Line2D([], [], color=c, lw=1.6) for _, _, c in MEM_COLUMNS]
    fig.tight_layout(rect=(0, 0.12 if nrows == 1 else 0.06, 1, 1))
    _legend_below(fig, handles, [lab for _, lab, _ in MEM_COLUMNS])
    return save_figure(fig, out_paths)


# ----------------------------------------------------------------------------- figure: AUC vs rate
RATE_CURVES = (("also-min", "weight"), ("adamw", "loss"))


def plot_auc_vs_rate(summary: pd.DataFrame, out_paths, curves=RATE_CURVES):
    """Final (solid) and best (dashed) ROC-AUC against the noise rate: one panel per dataset,
    noise type and architecture; ALSO-min blue, AdamW red; mean over seeds with ± std bars.
    ``summary`` is ``summary.csv``; human noise (no rate) is left out."""
    curves = with_variants(curves, summary["method"]) if "method" in summary else list(curves)
    keep = np.zeros(len(summary), dtype=bool)
    for method, signal in curves:
        keep |= ((summary["method"] == method) & (summary["signal"] == signal)).to_numpy()
    data = summary[keep & ~summary["noise"].astype(str).str.startswith("human-").to_numpy()]
    panels = data[["dataset", "noise", "arch"]].drop_duplicates().sort_values(["dataset", "noise", "arch"])
    if panels.empty:
        return _empty_figure(out_paths, "no runs with synthetic noise")
    fig, axes = _grid(len(panels), ncols=min(4, len(panels)), width=4.2, height=3.3, sharey=True)
    for ax, panel in zip(axes.flat, panels.itertuples(index=False)):
        d = data[(data["dataset"] == panel.dataset) & (data["noise"] == panel.noise)
                 & (data["arch"] == panel.arch)]
        for method, signal in curves:
            m = d[(d["method"] == method) & (d["signal"] == signal)]
            if m.empty:
                continue
            g = m.groupby("rate")[["auc_final", "auc_best"]].agg(["mean", "std"]).sort_index()
            color = method_color(method)
            name = _curve_label(method, signal)
            for col, ls, marker, what in (("auc_final", "-", "o", "final"), ("auc_best", "--", "^", "best")):
                ax.errorbar(g.index, g[(col, "mean")], yerr=g[(col, "std")].fillna(0.0), color=color,
                            ls=ls, marker=marker, ms=4, lw=1.4, capsize=2, label=f"{name}, {what}")
        ax.set_title(f"{panel.dataset} · {panel.arch} · {panel.noise}", fontsize=10)
        rates = sorted(d["rate"].astype(float).unique())
        ax.set_xticks(rates)
        ax.set_xlim(min(-0.03, rates[0] - 0.05), max(0.85, rates[-1] + 0.05))
        ax.set_xlabel("noise rate η")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("ROC-AUC (noisy vs clean)")
    values = data[["auc_final", "auc_best"]].to_numpy(dtype=float)
    lo = np.nanmin(values) if np.isfinite(values).any() else 0.5
    axes[0, 0].set_ylim(min(0.45, np.floor(lo * 20) / 20), 1.005)
    legend: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, h)
    fig.tight_layout(rect=(0, 0.12 if len(panels) <= 4 else 0.06, 1, 1))
    _legend_below(fig, list(legend.values()), list(legend.keys()), ncol=min(4, len(legend)))
    return save_figure(fig, out_paths)
