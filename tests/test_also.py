"""ALSO optimizer: the π update, the extragradient step, planted noise, state round trip."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from alsofilter.training.also import ALSO, mirror_step


def test_mirror_step_hand_computed():
    # λ = 0, η = 1, g = [0, ln 3]: π_new ∝ [0.5, 0.5/3] → [0.75, 0.25]
    pi = torch.tensor([0.5, 0.5], dtype=torch.float64)
    log_prior = torch.log(torch.tensor([0.5, 0.5], dtype=torch.float64))
    out = mirror_step(pi, torch.tensor([0.0, math.log(3.0)], dtype=torch.float64), 1.0, 0.0, log_prior, eps=0.0)
    assert torch.allclose(out, torch.tensor([0.75, 0.25], dtype=torch.float64))
    # λ = 1, η = 1, g = [0, 2 ln 3]: (2 log 0.5 − g) / 2 = log 0.5 − [0, ln 3] → [0.75, 0.25]
    out = mirror_step(pi, torch.tensor([0.0, 2 * math.log(3.0)], dtype=torch.float64), 1.0, 1.0, log_prior, eps=0.0)
    assert torch.allclose(out, torch.tensor([0.75, 0.25], dtype=torch.float64))
    # the KL pull: with g = 0 a non-uniform π moves towards the prior, and stays normalised
    skewed = torch.tensor([0.9, 0.1], dtype=torch.float64)
    out = mirror_step(skewed, torch.zeros(2, dtype=torch.float64), 1.0, 1.0, log_prior, eps=0.0)
    expected = np.exp((np.log([0.9, 0.1]) + np.log([0.5, 0.5])) / 2)
    assert np.allclose(out.numpy(), expected / expected.sum())
    # temperature divides the new log-weights
    out = mirror_step(pi, torch.tensor([0.0, math.log(3.0)], dtype=torch.float64), 1.0, 0.0, log_prior,
                      eps=0.0, temperature=0.5)
    assert torch.allclose(out, torch.tensor([0.9, 0.1], dtype=torch.float64))


def _problem(n=64, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=g)
    model = torch.nn.Linear(d, classes).double()
    return x, y, model


@pytest.mark.parametrize("direction", ["min", "max"])
def test_descent_ascent_pi_step_matches_formula(direction):
    x, y, model = _problem()
    n = x.shape[0]
    opt = ALSO(model.parameters(), n, lr=1e-2, pi_lr=0.05, pi_decay=0.3, direction=direction,
               also_mode="descent-ascent", eps=1e-20)
    opt.pi = opt.pi.double(); opt.log_prior = opt.log_prior.double()
    idx = torch.tensor([3, 7, 11, 20])
    with torch.no_grad():
        ce = F.cross_entropy(model(x[idx]), y[idx], reduction="none")
    pi0 = opt.pi.clone()
    opt.step(idx, lambda: F.cross_entropy(model(x[idx]), y[idx], reduction="none"))
    sign = 1.0 if direction == "min" else -1.0
    g = np.zeros(n)
    g[idx.numpy()] = sign * (n / len(idx)) * ce.numpy()
    eta, lam = 0.05, 0.3
    logits = (np.log(pi0.numpy() + 1e-20) + lam * eta * np.log(np.full(n, 1 / n)) - eta * g) / (1 + lam * eta)
    expected = np.exp(logits - logits.max()); expected /= expected.sum()
    assert np.allclose(opt.pi.numpy(), expected, rtol=1e-10, atol=1e-15)
    changed = expected[idx.numpy()] / pi0.numpy()[idx.numpy()]
    # min: batch samples lose weight relative to the rest; max: they gain
    others = np.delete(expected, idx.numpy()) / np.delete(pi0.numpy(), idx.numpy())
    assert (changed.max() < others.min()) if direction == "min" else (changed.min() > others.max())


def test_extragradient_step_matches_manual_computation():
    x, y, model = _problem(seed=1)
    n = x.shape[0]
    ref = copy.deepcopy(model)
    opt = ALSO(model.parameters(), n, lr=0.05, weight_decay=1e-2, pi_lr=0.02, pi_decay=0.1,
               direction="min", also_mode="extragrad")
    idx = torch.tensor([0, 5, 9, 13, 40, 41])
    scale = n / len(idx)
    closure = lambda: F.cross_entropy(model(x[idx]), y[idx], reduction="none")
    opt.step(idx, closure)

    # manual: half step with Adam #1 from θ, π½ from π; gradient at (θ½, π½[B]); Adam #2 from θ
    pi0 = torch.full((n,), 1.0 / n, dtype=torch.float32)
    log_prior = torch.log(pi0)
    half = copy.deepcopy(ref)
    adam1 = torch.optim.Adam(half.parameters(), lr=0.05, weight_decay=1e-2)
    ce = F.cross_entropy(half(x[idx]), y[idx], reduction="none") * scale
    (pi0[idx].double() * ce).sum().backward()
    g1 = torch.zeros(n); g1[idx] = ce.detach().float()
    pi_half = mirror_step(pi0, g1, 0.02, 0.1, log_prior)
    adam1.step()
    half.zero_grad()
    ce2 = F.cross_entropy(half(x[idx]), y[idx], reduction="none") * scale
    (pi_half[idx].double() * ce2).sum().backward()
    g2 = torch.zeros(n); g2[idx] = ce2.detach().float()
    expected_pi = mirror_step(pi0, g2, 0.02, 0.1, log_prior)
    adam2 = torch.optim.Adam(ref.parameters(), lr=0.05, weight_decay=1e-2)
    for p, q in zip(ref.parameters(), half.parameters()):
        p.grad = q.grad.clone()
    adam2.step()
    assert torch.allclose(opt.pi, expected_pi, atol=1e-9)
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-12)


def _planted(n=600, classes=4, flip=0.2, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3.0, size=(classes, 2))
    y_true = rng.integers(0, classes, n)
    x = centers[y_true] + rng.normal(0, 0.6, size=(n, 2))
    noisy = y_true.copy()
    flip_idx = rng.choice(n, int(flip * n), replace=False)
    noisy[flip_idx] = (y_true[flip_idx] + rng.integers(1, classes, len(flip_idx))) % classes
    return torch.tensor(x, dtype=torch.float32), torch.tensor(noisy), noisy != y_true


def _train_also(direction, mode="extragrad", epochs=15, seed=0):
    x, y, is_noisy = _planted()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = ALSO(model.parameters(), len(y), lr=1e-2, weight_decay=1e-4, pi_lr=1e-3, pi_decay=0.1,
               direction=direction, also_mode=mode)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(32):
            opt.step(idx, lambda idx=idx: F.cross_entropy(model(x[idx]), y[idx], reduction="none"))
    return opt.pi.numpy(), is_noisy


@pytest.mark.parametrize("mode", ["extragrad", "optimistic", "descent-ascent"])
def test_min_downweights_planted_noise(mode):
    pi, is_noisy = _train_also("min", mode)
    assert abs(pi.sum() - 1) < 1e-4
    assert roc_auc_score(is_noisy, -pi) >= 0.95


def test_max_upweights_planted_noise():
    pi, is_noisy = _train_also("max")
    assert roc_auc_score(is_noisy, pi) >= 0.95


@pytest.mark.parametrize("mode, adam_state", [("extragrad", "two"), ("optimistic", "two"),
                                              ("descent-ascent", "two"), ("extragrad", "shared"),
                                              ("optimistic", "shared")])
def test_state_dict_round_trip_resumes_identically(mode, adam_state):
    x, y, _ = _planted(n=200)

    def make():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        return model, ALSO(model.parameters(), len(y), lr=1e-2, pi_lr=1e-3, also_mode=mode, also_adam_state=adam_state)

    def run(model, opt, batches):
        for idx in batches:
            opt.step(idx, lambda idx=idx: F.cross_entropy(model(x[idx]), y[idx], reduction="none"))

    batches = list(torch.randperm(len(y), generator=torch.Generator().manual_seed(1)).split(25))
    model, opt = make()
    run(model, opt, batches[:4])
    saved = copy.deepcopy((model.state_dict(), opt.state_dict()))
    run(model, opt, batches[4:])

    model2, opt2 = make()
    model2.load_state_dict(saved[0])
    opt2.load_state_dict(saved[1])
    run(model2, opt2, batches[4:])
    assert torch.equal(opt.pi, opt2.pi)
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)


def test_state_dict_rejects_other_settings():
    _, _, model = _problem()
    opt = ALSO(model.parameters(), 64, direction="min")
    other = ALSO(model.parameters(), 64, direction="max")
    with pytest.raises(ValueError, match="direction"):
        other.load_state_dict(opt.state_dict())


def test_bad_arguments_are_named():
    _, _, model = _problem()
    with pytest.raises(ValueError, match="direction"):
        ALSO(model.parameters(), 10, direction="sideways")
    with pytest.raises(ValueError, match="also_mode"):
        ALSO(model.parameters(), 10, also_mode="fast")
    with pytest.raises(ValueError, match="pi_lr"):
        ALSO(model.parameters(), 10, pi_lr=-1)
    opt = ALSO(model.parameters(), 64)
    x, y, _ = _problem()
    with pytest.raises(ValueError, match="per-sample losses"):
        opt.step(torch.tensor([0, 1]), lambda: F.cross_entropy(model(x[:2]), y[:2]))


# ------------------------------------------------------------------ the authors' update (issue 20)
def _reference_also(model, x, y, batches, lr, wd, pi_lr, pi_decay, eps, adam_eps, l2_at,
                    betas=(0.9, 0.999), adam_state="two", decay="coupled", lookahead=1.0):
    """A plain per-parameter extragradient ALSO-min in float64: two Adam states written out by hand
    (torch's formula) or one both steps update (``adam_state="shared"``), the L2 term of the main
    step at the old θ (``start``) or at θ½ (``half``), or AdamW's decoupled decay
    (``decay="decoupled"``); the half step at ``lookahead`` × lr."""
    params = [p.detach().clone() for p in model.parameters()]
    n = x.shape[0]
    pi = torch.full((n,), 1.0 / n, dtype=torch.float64)
    log_prior = torch.full_like(pi, -math.log(n))
    state = {k: [[torch.zeros_like(p), torch.zeros_like(p)] for p in params] for k in ("half", "main")}
    if adam_state == "shared":
        state["half"] = state["main"]
    coupled = decay == "coupled"

    def losses(theta, idx):
        with torch.no_grad():
            for p, t in zip(model.parameters(), theta):
                p.copy_(t)
        for p in model.parameters():
            p.grad = None
        ce = F.cross_entropy(model(x[idx]), y[idx], reduction="none") * (n / len(idx))
        return ce

    def grads(theta, idx, weights):
        ce = losses(theta, idx)
        (weights[idx] * ce).sum().backward()
        return [p.grad.detach().clone() for p in model.parameters()], ce.detach()

    def adam(theta, g, which, step, rate):
        out = []
        for i, (t, gi) in enumerate(zip(theta, g)):
            if not coupled:
                t = t * (1 - rate * wd)                   # AdamW: decay, then the Adam step
            m, v = state[which][i]
            m.mul_(betas[0]).add_(gi, alpha=1 - betas[0])
            v.mul_(betas[1]).addcmul_(gi, gi, value=1 - betas[1])
            bc1, bc2 = 1 - betas[0] ** step, 1 - betas[1] ** step
            out.append(t - (rate / bc1) * m / (v.sqrt() / math.sqrt(bc2) + adam_eps))
        return out

    def mirror(p, idx, ce):
        g = torch.zeros_like(p)
        g[idx] = ce                                     # min: +ℓ
        logits = (torch.log(p + eps) + pi_decay * pi_lr * log_prior - pi_lr * g) / (1 + pi_decay * pi_lr)
        return torch.softmax(logits, dim=0)

    for step, idx in enumerate(batches, start=1):
        half_step, main_step = (2 * step - 1, 2 * step) if adam_state == "shared" else (step, step)
        g1, ce1 = grads(params, idx, pi)
        if coupled:
            g1 = [g + wd * t for g, t in zip(g1, params)]                 # half step: L2 at θ
        half = adam(params, g1, "half", half_step, lr * lookahead)
        pi_half = mirror(pi, idx, ce1)
        g2, ce2 = grads(half, idx, pi_half)
        if coupled:
            at = half if l2_at == "half" else params
            g2 = [g + wd * t for g, t in zip(g2, at)]
        params = adam(params, g2, "main", main_step, lr)
        pi = mirror(pi, idx, ce2)
    return params, pi


@pytest.mark.parametrize("adam_eps, l2_at, adam_state, decay, lookahead", [
    (1e-20, "half", "two", "coupled", 1.0), (1e-8, "start", "two", "coupled", 1.0),
    (1e-8, "half", "two", "coupled", 1.0), (1e-8, "start", "shared", "coupled", 1.0),
    (1e-20, "half", "shared", "coupled", 1.0), (1e-8, "start", "two", "decoupled", 1.0),
    (1e-8, "start", "shared", "decoupled", 0.5), (1e-8, "half", "two", "coupled", 0.3),
    (1e-8, "start", "shared", "coupled", 0.0)])
def test_extragradient_equals_a_plain_reference_loop(adam_eps, l2_at, adam_state, decay, lookahead):
    torch.manual_seed(0)
    x = torch.randn(24, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (24,))
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    reference_model = copy.deepcopy(model)
    batches = [torch.tensor(b) for b in ([0, 3, 5, 7, 9, 11], [1, 2, 4, 6, 8, 10], [12, 15, 18, 21, 23, 13],
                                         [14, 16, 17, 19, 20, 22], [0, 1, 2, 3, 4, 5])]
    settings = dict(lr=3e-2, wd=5e-2, pi_lr=1e-3, pi_decay=0.1, eps=1e-20)
    opt = ALSO(model.parameters(), 24, lr=settings["lr"], weight_decay=settings["wd"], pi_lr=settings["pi_lr"],
               pi_decay=settings["pi_decay"], eps=settings["eps"], also_mode="extragrad", adam_eps=adam_eps, also_l2_at=l2_at,
               also_adam_state=adam_state, also_weight_decay=decay, also_lookahead=lookahead)
    opt.pi = torch.full((24,), 1.0 / 24, dtype=torch.float64)        # π in float64 too
    opt.log_prior = torch.full((24,), -math.log(24), dtype=torch.float64)
    for idx in batches:
        opt.step(idx, lambda idx=idx: F.cross_entropy(model(x[idx]), y[idx], reduction="none"))
    ref_params, ref_pi = _reference_also(reference_model, x, y, batches, settings["lr"], settings["wd"],
                                         settings["pi_lr"], settings["pi_decay"], settings["eps"], adam_eps, l2_at,
                                         adam_state=adam_state, decay=decay, lookahead=lookahead)
    for p, r in zip(model.parameters(), ref_params):
        assert torch.allclose(p.detach(), r, rtol=0, atol=1e-12), (p.detach() - r).abs().max()
    assert torch.allclose(opt.pi, ref_pi, rtol=0, atol=1e-12)


def test_l2_at_makes_a_difference_and_is_checked():
    torch.manual_seed(1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    finals = {}
    for l2_at in ("start", "half"):
        torch.manual_seed(2)
        model = torch.nn.Linear(4, 2)
        opt = ALSO(model.parameters(), 16, lr=1e-2, weight_decay=0.5, also_l2_at=l2_at)
        for _ in range(3):
            opt.step(torch.arange(8), lambda: F.cross_entropy(model(x[:8]), y[:8], reduction="none"))
        finals[l2_at] = model.weight.detach().clone()
    assert not torch.allclose(finals["start"], finals["half"])
    with pytest.raises(ValueError, match="l2_at"):
        ALSO(torch.nn.Linear(2, 2).parameters(), 4, also_l2_at="end")


def test_ablation_options_are_checked_and_saved():
    params = list(torch.nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match="also_adam_state"):
        ALSO(params, 4, also_adam_state="three")
    with pytest.raises(ValueError, match="also_weight_decay"):
        ALSO(params, 4, also_weight_decay="both")
    with pytest.raises(ValueError, match="does not apply to also_weight_decay='decoupled'"):
        ALSO(params, 4, also_weight_decay="decoupled", also_l2_at="half")
    with pytest.raises(ValueError, match="lookahead"):
        ALSO(params, 4, also_lookahead=-0.5)
    shared = ALSO(params, 4, also_adam_state="shared")
    assert shared.adam_half is shared.adam and shared.state_dict()["adam_half"] is None
    with pytest.raises(ValueError, match="adam_state"):
        ALSO(params, 4).load_state_dict(shared.state_dict())


def test_lookahead_zero_leaves_theta_for_the_main_step():
    """lookahead 0: the second pass sees the old θ, so θ moves by one Adam step on g(θ) (with π½)."""
    torch.manual_seed(3)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    model = torch.nn.Linear(3, 2)
    seen = []

    def closure():
        seen.append(model.weight.detach().clone())
        return F.cross_entropy(model(x), y, reduction="none")

    ALSO(model.parameters(), 8, lr=1e-1, weight_decay=0.0, also_lookahead=0.0).step(torch.arange(8), closure)
    assert torch.equal(seen[0], seen[1])
    assert not torch.equal(seen[0], model.weight.detach())


# ------------------------------------------------------------------ from the config (issue 29)
def test_from_config_passes_every_setting_under_its_schema_name():
    from alsofilter.config.settings import TRAINING_KEYS, TrainConfig
    from alsofilter.training.also import CONFIG_KEYS, DIRECTION_OF_METHOD
    import inspect

    keywords = inspect.signature(ALSO.__init__).parameters
    assert set(CONFIG_KEYS) <= set(TRAINING_KEYS) and set(CONFIG_KEYS) <= set(keywords)
    # every training setting that is a keyword of ALSO goes through from_config by its own name
    assert {k for k in TRAINING_KEYS if k in keywords} == set(CONFIG_KEYS) | {"pi_lr"}
    config = TrainConfig.from_dict(dict(method="also-max", also_mode="optimistic", also_l2_at="half",
                                        also_adam_state="shared", also_lookahead=0.25, temperature=2.0,
                                        pi_lr="auto", batch_size=10, epochs=4))
    opt = ALSO.from_config(torch.nn.Linear(2, 2).parameters(), 40, config)
    for key in CONFIG_KEYS:
        assert getattr(opt, key) == getattr(config, key), key
    assert opt.direction == DIRECTION_OF_METHOD["also-max"] == "max"
    assert opt.pi_lr == pytest.approx(0.78125 / (40 / 10 * 4))
    with pytest.raises(ValueError, match="'adamw' does not train with ALSO"):
        ALSO.from_config(torch.nn.Linear(2, 2).parameters(), 40, TrainConfig.from_dict(dict(method="adamw")))


def test_a_state_saved_under_the_old_setting_names_loads_and_is_checked():
    # checkpoints written before the keywords took the schema's names store mode, adam_state, ...
    params = list(torch.nn.Linear(2, 2).parameters())
    state = ALSO(params, 4, also_mode="optimistic").state_dict()
    old = {"mode": "optimistic", "adam_state": "two", "l2_at": "start", "weight_decay_mode": "coupled",
           "lookahead": 1.0}
    state["settings"] = {**{k: v for k, v in state["settings"].items() if not k.startswith("also_")}, **old}
    ALSO(params, 4, also_mode="optimistic").load_state_dict(state)
    with pytest.raises(ValueError, match="also_mode='optimistic'"):
        ALSO(params, 4, also_mode="extragrad").load_state_dict(state)


# ---------------------------------------------------------------- what π is (docs/results.md)


@pytest.mark.parametrize("mode", ["descent-ascent", "extragrad"])
def test_log_pi_is_minus_eta_times_the_decayed_accumulated_loss(mode):
    """With a uniform prior, log π = −η Σ_t (1+λη)^−(T−t+1) ℓ_t + a constant shared by all samples:
    ℓ_t = the sample's scaled batch loss N/|B|·CE at step t (0 when not in the batch), taken at θ
    (descent-ascent) or at θ½ (extragradient: the second pass). Checked to rounding, float32 π."""
    torch.manual_seed(0)
    n, dim, classes, batch = 48, 6, 3, 8
    x = torch.randn(n, dim)
    y = torch.randint(0, classes, (n,))
    model = torch.nn.Linear(dim, classes)
    eta, lam = 2e-2, 0.5
    opt = ALSO(model.parameters(), n, lr=1e-2, pi_lr=eta, pi_decay=lam, also_mode=mode, device="cpu")
    decay = 1.0 / (1.0 + lam * eta)
    accumulated = np.zeros(n)                   # float64: Σ_t decay^(T-t+1) ℓ_t, updated per step
    generator = torch.Generator().manual_seed(1)
    for epoch in range(6):
        for idx in torch.randperm(n, generator=generator).split(batch):
            calls = []

            def closure(idx=idx):
                ce = F.cross_entropy(model(x[idx]), y[idx], reduction="none")
                calls.append(ce.detach().double().numpy())
                return ce

            opt.step(idx, closure)
            losses = calls[-1] * (n / len(idx))   # the pass whose losses move π (θ½ for extragrad)
            assert len(calls) == (1 if mode == "descent-ascent" else 2)
            step = np.zeros(n)
            step[idx.numpy()] = losses
            accumulated = decay * (accumulated + step)
    log_pi = np.log(opt.pi.double().numpy())
    offset = log_pi + eta * accumulated
    assert np.ptp(eta * accumulated) > 0.5                  # π really moved: log π spans > 0.5
    assert np.ptp(offset) < 2e-5                            # one constant for all, to float32 rounding
    # the same ranking, except between samples closer than that rounding
    gaps = np.diff(np.sort(eta * accumulated))
    order = np.argsort(log_pi, kind="stable")
    if gaps.min() > 4e-5:
        assert np.array_equal(order, np.argsort(-accumulated, kind="stable"))
    assert np.all(np.diff(-eta * accumulated[order]) > -4e-5)


def test_a_descent_ascent_run_ranks_by_pi_as_by_its_recorded_accumulated_loss():
    """On a real (tiny) training run: the descent-ascent π's ranking is that of the per-epoch
    recorded loss summed over epochs (each sample is in one batch per epoch, the recorded loss is
    the one that moved π, all batches have one size, so one loss scale N/|B|, and λη = 3e-4 makes
    the decay within the run negligible)."""
    from scipy.stats import spearmanr

    from alsofilter.data import load_digits_dataset
    from alsofilter.data.noise import make_noisy_labels
    from alsofilter.training.trainer import Trainer, TrainConfig

    torch.set_num_threads(1)
    data = load_digits_dataset()
    table = make_noisy_labels(data.y_train, 10, "symmetric", 0.4, 0, "digits")
    assert len(table) == 3 * 479                          # batches of one size: one scale N/|B|
    config = TrainConfig(width=4, epochs=3, batch_size=479, device="cpu", seed=5, method="also-min",
                         also_mode="descent-ascent", pi_lr=3e-3, crop_padding=0, flip=False)
    trainer = Trainer(data, table["noisy_label"].to_numpy(), table["true_label"].to_numpy(), config)
    trainer.fit(progress=False)
    loss = np.stack(trainer.record.arrays["loss"]).astype(np.float64)
    log_pi = np.log(trainer.record.arrays["weight"][-1].astype(np.float64))
    rho = spearmanr(log_pi, -loss.sum(0)).statistic
    assert rho > 0.999
