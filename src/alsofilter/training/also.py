"""ALSO: adaptive loss scaling optimizer, with the noisy-label paper's ``min`` variant (SPEC §2).

The problem solved is

    opt_{π ∈ simplex} min_θ  Σ_i π_i f_i(θ) + τ/2 ||θ||² − τ KL[π || π̂]

with ``opt = max`` for original ALSO (``direction="max"``: hard samples get *larger* weights) and
``opt = min`` for the noisy-label method (``direction="min"``: hard, mostly mislabeled samples get
*smaller* weights and stop driving the network).

One mini-batch step on dataset indices ``B`` (``N`` samples in all):

* loss scale ``s = N / |B|``; scaled per-sample losses ``ℓ_i = s · CE_i``;
* θ: Adam (``adam_eps``) on the gradient of ``Σ_{i∈B} π_i ℓ_i`` with L2 weight decay τθ added to
  the gradient (coupled, not decoupled);
* π: gradient ``g_i = ±ℓ_i`` on ``B`` (``+`` for ``min``, ``−`` for ``max``), 0 elsewhere; the mirror
  step with a KL pull to the prior, applied to all N entries::

      log π_new = (log(π + eps) + λη log π̂ − η g) / (1 + λη) / T,   π_new = softmax(log π_new)

  with ``η = pi_lr``, ``λ = pi_decay``, ``T = temperature``.

Modes (``also_mode``: how θ and π move together):

* ``extragrad`` (default, the authors' choice): a half step from (θ, π) with this batch's gradients
  gives (θ½, π½) (first Adam state); gradients at (θ½, π½[B]) on the same batch then move θ from
  the *old* θ (second Adam state) and π from the *old* π. Two forward/backward passes per batch.
* ``optimistic``: like extragrad, but the half step reuses the previous batch's gradients, so only
  one forward/backward pass per batch.
* ``descent-ascent``: one simultaneous step from the gradients at (θ, π).

Where the main extragradient step takes its L2 term (``also_l2_at``): ``"start"`` (this project's
default) adds τ·θ at the *old* θ, the point the step is applied to; ``"half"`` (the authors' code,
github Kirill2187/2025-Project-175 ``code/utils/adversarial.py``) adds τ·θ½, at the point the
gradient is evaluated. The authors also pass the π eps (1e-20) to Adam as its eps, where this
project uses torch's 1e-8: ``adam_eps=1e-20, also_l2_at="half"`` is the authors' update exactly
(``tests/test_also.py`` checks it against a plain per-parameter loop in float64).

Three more parts of the update, for the ablation of ``benchmarks/also_ablation.py``:

* ``also_adam_state``: ``"two"`` (the authors') keeps one Adam state for the half step and one for the
  main step; ``"shared"`` has both steps update one state (Extra-Adam, Gidel et al. 2019, and the
  official ALSO code), so its moments see the gradients at θ and at θ½.
* ``also_weight_decay``: ``"coupled"`` adds τθ to the gradient before Adam (the authors');
  ``"decoupled"`` decays the weights as AdamW does (θ ← θ − lr·τ·θ at each step's point).
* ``also_lookahead``: the θ half step's learning rate as a multiple of ``lr`` (1: the authors'; 0 leaves
  θ½ = θ, so only π looks ahead).

Each keyword of :class:`ALSO` that is a run's setting has its config key's name
(:meth:`ALSO.from_config`). π lives on the same device as the model parameters and is indexed by dataset indices.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from alsofilter.config.settings import ALSO_MODES as MODES, TrainConfig, resolve_pi_lr

DIRECTIONS = ("min", "max")
#: the π direction each ALSO method of the config trains with (``adamw`` has no π)
DIRECTION_OF_METHOD = {"also-min": "min", "also-max": "max"}
#: the settings :meth:`ALSO.from_config` passes on unchanged: the schema's keys, which are ALSO's
#: keywords of the same name (tests/test_also.py checks that these are all of them)
CONFIG_KEYS = ("lr", "weight_decay", "pi_decay", "eps", "temperature", "adam_eps", "also_mode",
               "also_l2_at", "also_adam_state", "also_weight_decay", "also_lookahead")
#: where the main extragradient step adds its L2 term (see the module docstring)
L2_POINTS = ("start", "half")
ADAM_STATES = ("two", "shared")
WEIGHT_DECAY_MODES = ("coupled", "decoupled")


def fused_adam(params) -> bool | None:
    """``fused=True`` for Adam/AdamW when every parameter is a float tensor on the CPU or CUDA
    (one kernel per step instead of a loop over the parameters: about 15 % less time per training
    step of the demo's network on the CPU; BENCHMARKS.md), else None (torch's default)."""
    params = list(params)
    ok = params and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return True if ok else None


def mirror_step(pi: torch.Tensor, grad: torch.Tensor, lr: float, decay: float,
                log_prior: torch.Tensor, eps: float = 1e-20, temperature: float = 1.0) -> torch.Tensor:
    """One KL-regularised mirror step on the simplex (SPEC §2).

    Parameters
    ----------
    pi : (N,) tensor, current weights (a probability vector).
    grad : (N,) tensor, gradient with respect to π (zero outside the batch).
    lr : η, the π learning rate.
    decay : λ, strength of the pull towards the prior.
    log_prior : (N,) tensor, ``log π̂``.

    Returns the new (N,) probability vector.
    """
    logits = (torch.log(pi + eps) + (decay * lr) * log_prior - lr * grad) / ((1.0 + decay * lr) * temperature)
    return torch.softmax(logits, dim=0)


class ALSO:
    """ALSO optimizer over model parameters θ and per-sample weights π.

    Every keyword that is a setting of a run has the name of its key in the config schema
    (``config.schema.yaml``, ``training`` section), where its default and meaning are written;
    :meth:`from_config` builds the optimizer of a run from its :class:`TrainConfig` by those names.

    Parameters
    ----------
    params : iterable of model parameters (θ).
    num_samples : N, the training-set size (length of π).
    lr, betas, weight_decay : Adam settings for θ (L2 added to the gradient).
    adam_eps : Adam's eps for θ (torch's default 1e-8; the authors' code passes 1e-20).
    also_l2_at : ``"start"`` or ``"half"``: where the main extragradient / optimistic step takes its
        L2 term, at the old θ or at θ½ (the authors'); descent-ascent has one point and ignores it.
    pi_lr : η for π.  pi_decay : λ, the KL pull to the prior.
    direction : ``"min"`` (noisy-label method) or ``"max"`` (original ALSO); a run's comes from its
        method (:data:`DIRECTION_OF_METHOD`).
    also_mode : ``"extragrad"``, ``"optimistic"`` or ``"descent-ascent"``.
    eps : added inside ``log(π + eps)``.  temperature : divides the new log-weights.
    also_adam_state : ``"two"`` or ``"shared"`` Adam states for the half and the main step.
    also_weight_decay : ``"coupled"`` (L2 in the gradient) or ``"decoupled"`` (AdamW's decay).
    also_lookahead : the θ half step's lr as a multiple of ``lr`` (>= 0).
    device : where π lives; defaults to the device of the first parameter.

    Use :meth:`step` with the dataset indices of the batch and a closure that runs the forward
    pass on that batch and returns the per-sample cross-entropy (shape ``(|B|,)``, unreduced), or a
    tuple whose first element is that tensor (the rest, e.g. logits, is passed back to the caller).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], num_samples: int, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 1e-4,
                 pi_lr: float = 1e-5, pi_decay: float = 0.1, direction: str = "min",
                 also_mode: str = "extragrad", eps: float = 1e-20, temperature: float = 1.0,
                 device: torch.device | str | None = None, adam_eps: float = 1e-8, also_l2_at: str = "start",
                 also_adam_state: str = "two", also_weight_decay: str = "coupled", also_lookahead: float = 1.0):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("ALSO got no trainable parameters")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if also_mode not in MODES:
            raise ValueError(f"also_mode must be one of {MODES}, got {also_mode!r}")
        if also_l2_at not in L2_POINTS:
            raise ValueError(f"also_l2_at must be one of {L2_POINTS}, got {also_l2_at!r}")
        if also_adam_state not in ADAM_STATES:
            raise ValueError(f"also_adam_state must be one of {ADAM_STATES}, got {also_adam_state!r}")
        if also_weight_decay not in WEIGHT_DECAY_MODES:
            raise ValueError(f"also_weight_decay must be one of {WEIGHT_DECAY_MODES}, got {also_weight_decay!r}")
        if also_weight_decay == "decoupled" and also_l2_at != "start":
            raise ValueError("also_l2_at='half' places an L2 term in the gradient; it does not apply to "
                             "also_weight_decay='decoupled'")
        if not also_lookahead >= 0:
            raise ValueError(f"also_lookahead must be >= 0, got {also_lookahead}")
        if not adam_eps >= 0:
            raise ValueError(f"adam_eps must be >= 0, got {adam_eps}")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        for name, value in (("lr", lr), ("pi_lr", pi_lr), ("pi_decay", pi_decay), ("weight_decay", weight_decay)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.num_samples = int(num_samples)
        self.pi_lr, self.pi_decay = float(pi_lr), float(pi_decay)
        self.direction, self.also_mode = direction, also_mode
        self.eps, self.temperature, self.adam_eps = float(eps), float(temperature), float(adam_eps)
        self.weight_decay, self.also_l2_at = float(weight_decay), also_l2_at
        self.also_adam_state, self.also_weight_decay = also_adam_state, also_weight_decay
        self.lr, self.also_lookahead = float(lr), float(also_lookahead)
        device = torch.device(device) if device is not None else self.params[0].device
        self.pi = torch.full((self.num_samples,), 1.0 / self.num_samples, device=device)
        self.log_prior = torch.full_like(self.pi, -torch.log(torch.tensor(float(self.num_samples))).item())
        # Adam state for the final step; extragrad/optimistic keep a second one for the half step
        # (also_adam_state="two") or step the same one twice ("shared"). Where an L2 term must sit
        # at another point than the one Adam steps from (also_l2_at="half"; both steps of a shared
        # state), it is added to the gradient by hand (self._l2_by_hand) and that Adam has no
        # weight decay of its own.
        fused = fused_adam(self.params)
        coupled = also_weight_decay == "coupled"
        adam = torch.optim.Adam if coupled else torch.optim.AdamW
        two_pass = also_mode != "descent-ascent"
        shared = two_pass and also_adam_state == "shared"
        self._l2_by_hand = coupled and two_pass and (also_l2_at == "half" or shared) and weight_decay > 0
        main_decay = 0.0 if self._l2_by_hand else weight_decay
        self.adam = adam(self.params, lr=lr, betas=betas, eps=adam_eps, weight_decay=main_decay, fused=fused)
        if not two_pass:
            self.adam_half = None
        elif shared:
            self.adam_half = self.adam
        else:
            self.adam_half = adam(self.params, lr=lr * also_lookahead, betas=betas, eps=adam_eps,
                                  weight_decay=weight_decay, fused=fused)
        # optimistic mode: the previous step's gradients (θ and the full-length π gradient)
        self._prev_theta_grads: list[torch.Tensor] | None = None
        self._prev_pi_grad: torch.Tensor | None = None
        self._sign = 1.0 if direction == "min" else -1.0
        self._theta_old: list[torch.Tensor] | None = None   # buffer for the θ the half step leaves

    @classmethod
    def from_config(cls, params: Iterable[torch.nn.Parameter], num_samples: int, config: TrainConfig,
                    device: torch.device | str | None = None) -> "ALSO":
        """The optimizer of a run: every keyword of :data:`CONFIG_KEYS` from the setting of the same
        name, ``pi_lr`` resolved for this training set (:func:`resolve_pi_lr`: ``auto`` → a number)
        and the direction of ``config.method`` (:data:`DIRECTION_OF_METHOD`)."""
        if config.method not in DIRECTION_OF_METHOD:
            raise ValueError(f"method {config.method!r} does not train with ALSO; "
                             f"ALSO's methods: {sorted(DIRECTION_OF_METHOD)}")
        return cls(params, num_samples, lr=config.lr, weight_decay=config.weight_decay,
                   pi_lr=resolve_pi_lr(config.pi_lr, num_samples, config.batch_size, config.epochs),
                   pi_decay=config.pi_decay, direction=DIRECTION_OF_METHOD[config.method],
                   also_mode=config.also_mode, eps=config.eps, temperature=config.temperature,
                   device=device, adam_eps=config.adam_eps, also_l2_at=config.also_l2_at,
                   also_adam_state=config.also_adam_state, also_weight_decay=config.also_weight_decay,
                   also_lookahead=config.also_lookahead)

    # ------------------------------------------------------------------ helpers
    def _pass(self, closure: Callable, pi_batch: torch.Tensor, scale: float):
        """Forward + backward of ``Σ π_B ℓ_B``; returns (closure output, scaled losses ℓ_B detached)."""
        for p in self.params:
            p.grad = None
        out = closure()
        ce = out[0] if isinstance(out, tuple) else out
        if ce.dim() != 1 or ce.shape[0] != pi_batch.shape[0]:
            raise ValueError(f"closure must return per-sample losses of shape ({pi_batch.shape[0]},), "
                             f"got {tuple(ce.shape)}")
        scaled = ce * scale
        (pi_batch.detach() * scaled).sum().backward()
        return out, scaled.detach()

    def _pi_grad(self, indices: torch.Tensor, scaled: torch.Tensor) -> torch.Tensor:
        grad = torch.zeros_like(self.pi)
        grad.index_copy_(0, indices, self._sign * scaled.to(grad.dtype))
        return grad

    def _mirror(self, pi: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return mirror_step(pi, grad, self.pi_lr, self.pi_decay, self.log_prior, self.eps, self.temperature)

    @torch.no_grad()
    def _add_l2(self) -> None:
        """Add τ·θ (θ as the parameters are now) to the gradients: coupled L2 placed by hand."""
        torch._foreach_add_([p.grad for p in self.params], [p.detach() for p in self.params],
                            alpha=self.weight_decay)

    def _half_step(self) -> None:
        """θ → θ½ with the gradients in ``p.grad`` (taken at θ), lr × lookahead."""
        if self.adam_half is not self.adam:
            self.adam_half.step()
            return
        if self._l2_by_hand:
            self._add_l2()
        for group in self.adam.param_groups:
            group["lr"] = self.lr * self.also_lookahead
        try:
            self.adam.step()
        finally:
            for group in self.adam.param_groups:
                group["lr"] = self.lr

    # ------------------------------------------------------------------ step
    def step(self, indices: torch.Tensor, closure: Callable):
        """One ALSO step on the batch with dataset ``indices`` (LongTensor on π's device).

        Returns the output of the first closure call (the forward at the current θ), detached
        where it is a tensor.
        """
        indices = indices.to(self.pi.device)
        scale = self.num_samples / indices.shape[0]
        if self.also_mode == "descent-ascent":
            out, scaled = self._pass(closure, self.pi[indices], scale)
            self.adam.step()
            self.pi = self._mirror(self.pi, self._pi_grad(indices, scaled))
            return _detach(out)

        if self._theta_old is None:
            self._theta_old = [torch.empty_like(p) for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_(self._theta_old, [p.detach() for p in self.params])
        pi_old = self.pi
        first_out = None
        if self.also_mode == "extragrad":
            first_out, scaled = self._pass(closure, pi_old[indices], scale)
            pi_half = self._mirror(pi_old, self._pi_grad(indices, scaled))
            self._half_step()                                        # θ -> θ½
        else:  # optimistic: half step with the previous batch's gradients
            if self._prev_theta_grads is not None:
                for p, g in zip(self.params, self._prev_theta_grads):
                    p.grad = g
                self._half_step()
                pi_half = self._mirror(pi_old, self._prev_pi_grad)
            else:
                pi_half = pi_old
        # gradients at (θ½, π½[B]) on the same batch
        out, scaled = self._pass(closure, pi_half[indices], scale)
        if first_out is None:
            first_out = out
        if self.also_mode == "optimistic":
            self._prev_theta_grads = [p.grad.detach().clone() for p in self.params]
            self._prev_pi_grad = self._pi_grad(indices, scaled)
            pi_grad = self._prev_pi_grad
        else:
            pi_grad = self._pi_grad(indices, scaled)
        with torch.no_grad():
            if self._l2_by_hand and self.also_l2_at == "half":            # the authors': L2 at θ½
                self._add_l2()
            torch._foreach_copy_([p.detach() for p in self.params], self._theta_old)   # back to the old θ
            if self._l2_by_hand and self.also_l2_at == "start":           # shared state: L2 at the old θ
                self._add_l2()
        self.adam.step()                                             # θ_new from θ_old
        self.pi = self._mirror(pi_old, pi_grad)                      # π_new from π_old
        return _detach(first_out)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to resume: π, both Adam states, optimistic's stored gradients."""
        return {
            "pi": self.pi.detach().clone(),
            "adam": self.adam.state_dict(),
            "adam_half": (self.adam_half.state_dict()
                          if self.adam_half is not None and self.adam_half is not self.adam else None),
            "prev_theta_grads": ([g.clone() for g in self._prev_theta_grads]
                                 if self._prev_theta_grads is not None else None),
            "prev_pi_grad": self._prev_pi_grad.clone() if self._prev_pi_grad is not None else None,
            "settings": {"num_samples": self.num_samples, "direction": self.direction, "pi_lr": self.pi_lr,
                         "pi_decay": self.pi_decay, "eps": self.eps, "temperature": self.temperature,
                         "also_mode": self.also_mode, "also_l2_at": self.also_l2_at,
                         "also_adam_state": self.also_adam_state, "also_weight_decay": self.also_weight_decay,
                         "also_lookahead": self.also_lookahead},
        }

    def load_state_dict(self, state: dict) -> None:
        # states written before the keywords took the schema's names (until 2026-12-03) say mode,
        # adam_state, ...: read under the names of today
        settings = {OLD_SETTING_NAMES.get(k, k): v for k, v in state["settings"].items()}
        for key, default in (("num_samples", None), ("direction", None), ("also_mode", None),
                             ("also_adam_state", "two")):
            if settings.get(key, default) != getattr(self, key):
                raise ValueError(f"ALSO state was saved with {key}={settings.get(key, default)!r}, "
                                 f"this optimizer has {key}={getattr(self, key)!r}")
        self.pi = state["pi"].to(self.pi.device).clone()
        self.adam.load_state_dict(state["adam"])
        if self.adam_half is not None and self.adam_half is not self.adam and state["adam_half"] is not None:
            self.adam_half.load_state_dict(state["adam_half"])
        prev = state.get("prev_theta_grads")
        self._prev_theta_grads = ([g.to(p.device).clone() for g, p in zip(prev, self.params)]
                                  if prev is not None else None)
        prev_pi = state.get("prev_pi_grad")
        self._prev_pi_grad = prev_pi.to(self.pi.device).clone() if prev_pi is not None else None


#: the names ALSO's state_dict settings had before they became the schema's keys
OLD_SETTING_NAMES = {"mode": "also_mode", "l2_at": "also_l2_at", "adam_state": "also_adam_state",
                     "weight_decay_mode": "also_weight_decay", "lookahead": "also_lookahead"}


def _detach(out):
    if isinstance(out, tuple):
        return tuple(o.detach() if torch.is_tensor(o) else o for o in out)
    return out.detach()
