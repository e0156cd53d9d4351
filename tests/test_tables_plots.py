"""Tables and figures on small synthetic run files."""
from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from alsofilter.reporting import plots, tables
from alsofilter.reporting.tables import RUN_KEYS

E, N = 5, 300
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCENARIOS = [("digits", "resnet18", "symmetric", 0.4), ("digits", "resnet18", "asymmetric", 0.2)]
METHODS = ("also-min", "adamw")


def _metrics(method: str, seed: int) -> pd.DataFrame:
    signals = ["loss", "weight"] if method.startswith("also") else ["loss"]
    epoch = np.arange(1, E + 1)
    rows = []
    for s in signals:
        if method == "adamw":  # rises then collapses; tie between epochs 2 and 3
            auc = np.array([0.70, 0.90, 0.90, 0.60, 0.55]) + 0.01 * seed
        else:
            auc = np.array([0.60, 0.80, 0.85, 0.90, 0.92]) - (0.02 if s == "loss" else 0) + 0.01 * seed
        rows.append(pd.DataFrame({
            "signal": s, "epoch": epoch, "auc": auc, "ap": auc - 0.1, "precision": 0.8,
            "recall": 0.7, "f1": 0.5 + 0.1 * seed, "noise_rate_est": 0.3, "noise_rate_true": 0.35,
            "fit_ok": True,
        }))
    return pd.concat(rows, ignore_index=True)


def _history(seed: int) -> pd.DataFrame:
    epoch = np.arange(1, E + 1)
    mem = np.linspace(0.0, 0.6, E) + 0.02 * seed
    correct = np.linspace(0.5, 0.2, E)
    return pd.DataFrame({
        "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": 0.5, "test_acc": 0.6 + 0.05 * epoch + 0.01 * seed,
        "mem_correct": correct, "mem_memorized": mem, "mem_incorrect": 1 - correct - mem, "seconds": 1.0,
    })


def _write_signals(path, method: str, seed: int):
    rng = np.random.default_rng(seed)
    is_noisy = rng.random(N) < 0.4
    true = rng.integers(0, 10, N)
    noisy = np.where(is_noisy, (true + 1) % 10, true)
    loss = rng.gamma(2.0, 0.3, (E, N)) + 2.0 * is_noisy
    rec = {"loss": loss.astype(np.float32), "pred": rng.integers(0, 10, (E, N)).astype(np.int16),
           "true_label": true, "noisy_label": noisy, "is_noisy": is_noisy}
    if method.startswith("also"):
        logits = -1.5 * is_noisy + 0.2 * rng.standard_normal((E, N))
        w = np.exp(logits)
        rec["weight"] = (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
    np.savez(path, **rec)
    return rec


def _write_mixture(path, rec):
    mix = {}
    for s in ("loss", "weight"):
        if s not in rec:
            continue
        score = rec["loss"] if s == "loss" else -N * rec["weight"]
        mix[f"{s}/lo"] = np.percentile(score, 5, axis=1)
        mix[f"{s}/hi"] = np.percentile(score, 95, axis=1)
        mix[f"{s}/alpha"] = np.tile([2.0, 6.0], (E, 1))
        mix[f"{s}/beta"] = np.tile([6.0, 2.0], (E, 1))
        mix[f"{s}/weight"] = np.tile([0.6, 0.4], (E, 1))
        mix[f"{s}/posterior"] = np.zeros((E, N), np.float32)
        mix[f"{s}/ok"] = np.array([True] * (E - 1) + [s == "loss"])  # last weight fit "failed"
    np.savez(path, **mix)


@pytest.fixture
def runs(tmp_path):
    out = []
    for dataset, arch, noise, rate in SCENARIOS:
        for method in METHODS:
            for seed in (0, 1):
                key = dict(dataset=dataset, arch=arch, method=method, noise=noise, rate=rate, seed=seed)
                stem = tmp_path / f"{noise}-{rate}-{method}-{seed}"
                _metrics(method, seed).to_csv(f"{stem}-metrics.csv", index=False)
                _history(seed).to_csv(f"{stem}-history.csv", index=False)
                rec = _write_signals(f"{stem}-signals.npz", method, seed)
                _write_mixture(f"{stem}-mixture.npz", rec)
                out.append({**key, "metrics_path": f"{stem}-metrics.csv", "history_path": f"{stem}-history.csv",
                            "signals_path": f"{stem}-signals.npz", "mixture_path": f"{stem}-mixture.npz"})
    return out


def _long(runs, kind: str) -> pd.DataFrame:
    return pd.concat([pd.read_csv(r[f"{kind}_path"]).assign(**{k: r[k] for k in RUN_KEYS}) for r in runs],
                     ignore_index=True)


def _check_figures(paths):
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
        assert not [q for q in p.parent.iterdir() if q.name.startswith(".")], "temp file left behind"
    png = [p for p in paths if p.suffix == ".png"][0]
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert [p for p in paths if p.suffix == ".pdf"][0].read_bytes()[:4] == b"%PDF"


# ----------------------------------------------------------------------------- tables
def test_run_summary_values():
    run = dict(dataset="d", arch="a", method="adamw", noise="symmetric", rate=0.4, seed=0)
    s = tables.run_summary(_metrics("adamw", 0), _history(0), run)
    assert len(s) == 1
    row = s.iloc[0]
    assert row["auc_best"] == pytest.approx(0.90) and row["epoch_best"] == 2  # earliest of the tie
    assert row["auc_final"] == pytest.approx(0.55)
    assert row["ap_final"] == pytest.approx(0.45)
    assert row["test_acc_final"] == pytest.approx(0.85)
    assert row["epochs"] == E
    s2 = tables.run_summary(_metrics("also-min", 0), None, {**run, "method": "also-min"})
    assert list(s2["signal"]) == ["loss", "weight"]
    assert s2["test_acc_final"].isna().all()
    assert list(s2["epoch_best"]) == [5, 5]


def test_build_and_aggregate(runs):
    summary = tables.build_summary([(r, r["metrics_path"], r["history_path"]) for r in runs])
    for col in ("dataset", "arch", "method", "signal", "noise", "rate", "seed", "auc_final", "auc_best",
                "epoch_best", "ap_final", "f1_final", "noise_rate_true", "noise_rate_est"):
        assert col in summary.columns
    assert len(summary) == 2 * 2 * (1 + 2)  # scenarios x seeds x signals (adamw: 1, also-min: 2)
    assert list(summary["noise"].iloc[:1]) == ["asymmetric"]  # sorted

    agg = tables.aggregate_seeds(summary)
    row = agg[(agg["method"] == "adamw") & (agg["noise"] == "symmetric")].iloc[0]
    assert row["n_seeds"] == 2
    assert row["f1_final_mean"] == pytest.approx(0.55)
    assert row["f1_final_std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert row["auc_final_mean"] == pytest.approx(0.555)

    one = tables.aggregate_seeds(summary[summary["seed"] == 0])
    assert one["auc_final_std"].isna().all()
    text = tables.format_mean_std(one)
    # one seed: the mean alone (the one formatter of every table, alsofilter.reporting.aggregate)
    assert not text["auc_final"].str.contains("±").any() and text["auc_final"].str.fullmatch(r"\d\.\d{3}").all()


def test_write_tables(runs, tmp_path):
    summary = tables.build_summary([(r, r["metrics_path"], r["history_path"]) for r in runs])
    out = tmp_path / "tables"
    paths = tables.write_tables(summary, out)
    assert set(p.name for p in paths.values()) == {
        "summary.csv", "summary_by_seed.csv", "summary_by_seed.md", "summary_by_seed.tex"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    back = pd.read_csv(paths["summary_csv"])
    assert len(back) == len(summary)
    assert {"auc_final_mean", "auc_final_std", "n_seeds"} <= set(pd.read_csv(paths["by_seed_csv"]).columns)
    md = paths["by_seed_md"].read_text()
    assert "also-min" in md and "±" in md and "0.555 ± 0.007" in md
    tex = paths["by_seed_tex"].read_text()
    assert r"\begin{tabular}" in tex and r"auc\_final" in tex and r"$\pm$" in tex
    assert "auc_final" not in tex


# ----------------------------------------------------------------------------- figures
def test_plot_auc_curves(runs, tmp_path):
    per_epoch = _long(runs, "metrics")
    reference = pd.DataFrame([dict(dataset="digits", arch="resnet18", noise="symmetric", rate=0.4,
                                   method="also-min", value=0.977),
                              dict(dataset="digits", arch="resnet18", noise="symmetric", rate=0.4,
                                   method="adamw", value=0.952)])
    out = tmp_path / "fig"
    paths = [out / "auc.png", out / "auc.pdf"]
    plots.plot_auc_curves(per_epoch, paths, reference=reference)
    _check_figures(paths)


def test_plot_memorization(runs, tmp_path):
    paths = [tmp_path / "mem.png", tmp_path / "mem.pdf"]
    plots.plot_memorization(_long(runs, "history"), paths)
    _check_figures(paths)


def test_plot_bmm_fits(tmp_path):
    rng = np.random.default_rng(0)
    panels = [dict(title=f"panel {i}", values=rng.beta(2, 5, 500), alpha=np.array([2.0, 0.7]),
                   beta=np.array([5.0, 0.5]), weight=np.array([0.6, 0.4]), xlabel="x") for i in range(3)]
    panels[2]["ok"] = False
    paths = [tmp_path / "bmm.png", tmp_path / "bmm.pdf"]
    plots.plot_bmm_fits(panels, paths)
    _check_figures(paths)


def _check_panels(panels):
    assert len(panels) == 2 * len(SCENARIOS)
    also, adamw = panels[0], panels[1]
    assert (also["method"], also["signal"], also["epoch"]) == ("also-min", "weight", E)
    assert (adamw["method"], adamw["signal"], adamw["epoch"]) == ("adamw", "loss", 2)  # turning point
    assert also["ok"] is False and adamw["ok"] is True
    for p in panels:
        assert p["values"].shape == (N,) and 0 < p["values"].min() and p["values"].max() < 1
        assert p["alpha"].shape == (2,)


def test_bmm_fit_panels_with_stub_modules(runs, tmp_path, monkeypatch):
    """Independent of alsofilter.detectors.signals / alsofilter.detectors.bmm: stub them with the documented formulas."""
    sig = types.ModuleType("alsofilter.detectors.signals")
    sig.suspicion_score = lambda name, rec: (np.asarray(rec["loss"]) if name == "loss"
                                             else -np.log(rec["weight"].shape[1] * np.asarray(rec["weight"])))
    bmm = types.ModuleType("alsofilter.detectors.bmm")
    bmm.apply_normalisation = lambda v, lo, hi, clip=1e-3: np.clip((v - lo) / (hi - lo), clip, 1 - clip)
    monkeypatch.setitem(sys.modules, "alsofilter.detectors.signals", sig)
    monkeypatch.setitem(sys.modules, "alsofilter.detectors.bmm", bmm)
    panels = plots.bmm_fit_panels(runs)
    _check_panels(panels)
    paths = [tmp_path / "out" / "bmm.png", tmp_path / "out" / "bmm.pdf"]
    plots.plot_bmm_fits(panels, paths)
    _check_figures(paths)


def test_bmm_fit_panels(runs, tmp_path):
    pytest.importorskip("alsofilter.detectors.signals")
    pytest.importorskip("alsofilter.detectors.bmm")
    _check_panels(plots.bmm_fit_panels(runs))
