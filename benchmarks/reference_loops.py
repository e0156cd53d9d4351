"""The two reference training loops that ``benchmarks/gpu_session.py`` times against the project's
(:meth:`alsofilter.training.trainer.Trainer.run_epoch`), each for whole epochs, training and the
clean-test evaluation included.

``plain``: a loop written the ordinary PyTorch way, *faster than the authors' code*: a
``DataLoader`` with ``workers`` persistent worker processes and per-sample crop/flip/normalise
transforms (:class:`benchmarks.bench_train.ReferenceDataset`), pinned memory, one ``.item()`` per
step for the running loss, the evaluation through a ``DataLoader`` at the project's evaluation
batch. It uses the project's own optimizer objects (torch's AdamW, or :class:`ALSO`, with the
same ``fused`` choice), precision (bf16 autocast under ``speed: fast``) and memory format
(channels-last under ``speed: fast``), so it differs from the project's loop in the data path and
the per-sample bookkeeping only.

``authors``: the authors' loop (github Kirill2187/2025-Project-175, ``code/train.py`` and
``code/utils/adversarial.py``) as it runs, re-implemented here from its description, not copied:
a ``DataLoader`` with ``num_workers=0`` (the default they keep) and the same per-sample
transforms, evaluation at batch 64 through a ``DataLoader`` with a ``.item()`` per batch; for
ALSO, :class:`AuthorsStyleALSO`, their optimizer's arithmetic (extragradient, two Adam states,
the L2 term at θ½, eps 1e-20 for Adam and π) written the way they wrote it: a Python loop over
the parameters with a dozen tensor operations each, twice per step, a full-length π gradient
built and soft-maxed twice per step, and a ``.item()`` in each of the step's two closure calls;
for AdamW, torch's ``AdamW`` with its defaults (not fused) and each step's per-sample losses
copied to the host (``.cpu().numpy()``) and a ``.item()``. fp32 and the default memory format,
as they trained. The network is this project's ResNet (theirs has the same layout), so that the
loops differ in the loop only.

Every loop runs ``epochs`` epochs and reports each one (seconds, mean training loss, clean test
accuracy, whether π stayed finite); the gpu session times the second, after a first one that
takes cuDNN's autotuning, lazy kernel loading, the allocator's growth and (``plain``) the worker
start-up for every shape the loop meets, trailing batch and evaluation batches included.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from alsofilter.data import ImageDataset
from alsofilter.training.also import ALSO, fused_adam
from alsofilter.training.models import build_model
from alsofilter.training.speed import resolved_channels_last, resolved_precision
from benchmarks.bench_train import ReferenceDataset

LOOPS = ("project", "plain", "authors")
#: the authors' evaluation batch: their validation DataLoader uses the training batch size
AUTHORS_EVAL_BATCH = 64


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class AuthorsStyleALSO:
    """ALSO-min's extragradient step computed as the authors' optimizer computes it: per
    parameter, in Python, with their update (equal to :class:`ALSO` with ``adam_eps=1e-20,
    also_l2_at="half"``, ``tests/test_bench.py`` checks it), for timing their loop.

    ``step(closure, indices)``: ``closure(weights, scale)`` zeroes the gradients, runs the
    network on the batch, back-propagates ``Σ weights · scale · CE`` and returns
    ``(scale · CE detached (B,), running loss as a Python float)``.
    """

    def __init__(self, params, num_samples: int, lr: float, weight_decay: float, pi_lr: float,
                 pi_decay: float, eps: float = 1e-20, betas=(0.9, 0.999), device=None):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.pi_lr, self.pi_decay, self.eps = lr, weight_decay, pi_lr, pi_decay, eps
        self.betas = betas
        self.num_samples = num_samples
        device = device or self.params[0].device
        self.prior = torch.full((num_samples,), 1.0 / num_samples, device=device)
        self.pi = self.prior.clone()
        # one Adam state per parameter for the half step and one for the main step
        self.state = {which: [{"step": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)} for p in self.params]
                      for which in ("half", "main")}
        self.loss = None

    def _adam_delta(self, p: torch.Tensor, state: dict) -> torch.Tensor:
        # L2 in the gradient at the point where it was taken (θ for the half step, θ½ for the main)
        grad = p.grad + self.weight_decay * p.data
        beta1, beta2 = self.betas
        state["step"] += 1
        state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
        state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = state["v"].sqrt().add_(self.eps)
        size = self.lr * math.sqrt(1 - beta2 ** state["step"]) / (1 - beta1 ** state["step"])
        return -size * state["m"] / denom

    def _mirror(self, pi: torch.Tensor, indices: torch.Tensor, scaled: torch.Tensor) -> torch.Tensor:
        grad = torch.zeros_like(pi)
        grad[indices] = scaled.to(pi.dtype)                         # min: +ℓ on the batch
        logits = (torch.log(pi + self.eps) + self.pi_decay * self.pi_lr * torch.log(self.prior)
                  - self.pi_lr * grad) / (1 + self.pi_decay * self.pi_lr)
        return torch.softmax(logits, dim=-1)

    def step(self, closure, indices: torch.Tensor):
        indices = indices.to(self.pi.device)
        scale = self.num_samples / indices.shape[0]
        scaled, self.loss = closure(self.pi[indices], scale)
        old = [p.data for p in self.params]
        for p, state in zip(self.params, self.state["half"]):
            p.data = p.data + self._adam_delta(p, state)
        pi_half = self._mirror(self.pi, indices, scaled)
        scaled, self.loss = closure(pi_half[indices], scale)
        for p, state, theta in zip(self.params, self.state["main"], old):
            p.data = theta + self._adam_delta(p, state)
        self.pi = self._mirror(self.pi, indices, scaled)


def _optimizer(model, data: ImageDataset, config, device):
    if config.method == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                 eps=config.adam_eps, fused=fused_adam(model.parameters()))
    return ALSO.from_config(model.parameters(), data.num_train, config, device=device)


def _loaders(data: ImageDataset, config, workers: int, eval_batch: int, cuda: bool):
    persistent = workers > 0
    train = torch.utils.data.DataLoader(
        ReferenceDataset(data.x_train, data.y_train, data.mean, data.std, config.crop_padding, config.flip),
        batch_size=config.batch_size, shuffle=True, num_workers=workers, pin_memory=cuda and workers > 0,
        persistent_workers=persistent)
    test = torch.utils.data.DataLoader(
        ReferenceDataset(data.x_test, data.y_test, data.mean, data.std, 0, False),
        batch_size=eval_batch, num_workers=workers, pin_memory=cuda and workers > 0, persistent_workers=persistent)
    return train, test


def plain_loop(data: ImageDataset, config, epochs: int = 2, workers: int = 8) -> list[dict]:
    """``epochs`` epochs of the ``plain`` reference (module docstring); one dict per epoch."""
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    channels_last = resolved_channels_last(config)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(config.arch, data.num_classes, data.in_channels, config.width).to(device)
    model = model.to(memory_format=memory_format)
    bf16 = resolved_precision(config) == "bf16"
    optimizer = _optimizer(model, data, config, device)
    train, test = _loaders(data, config, workers, config.eval_batch_size, device.type == "cuda")

    def forward(x):
        x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        if bf16:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return model(x).float()
        return model(x)

    def step(x, y, idx) -> float:
        y = y.to(device, non_blocking=True)
        if config.method == "adamw":
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(forward(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()
        ce, _ = optimizer.step(idx.to(device), lambda: (F.cross_entropy(forward(x), y, reduction="none"), None))
        return ce.mean().item()

    def evaluate() -> float:
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=device)
        with torch.no_grad():
            for x, y, _ in test:
                correct += (forward(x).argmax(1) == y.to(device, non_blocking=True)).sum()
        return correct.item() / data.num_test

    return _timed_epochs(device, model, optimizer, train, step, evaluate, epochs)


def authors_loop(data: ImageDataset, config, epochs: int = 2) -> list[dict]:
    """``epochs`` epochs of the ``authors`` loop (module docstring); one dict per epoch. fp32 and
    the default memory format whatever ``config.speed`` says (the authors trained so); ALSO
    settings other than the authors' (descent-ascent, ALSO-max, ...) are refused."""
    device = torch.device(config.device)
    if config.method != "adamw" and (config.method != "also-min" or config.also_mode != "extragrad"):
        raise ValueError(f"the authors' loop trains AdamW or ALSO-min with the extragradient, not "
                         f"{config.method} / {config.also_mode}")
    torch.manual_seed(config.seed)
    model = build_model(config.arch, data.num_classes, data.in_channels, config.width).to(device)
    if config.method == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        from alsofilter.config.settings import resolve_pi_lr

        optimizer = AuthorsStyleALSO(model.parameters(), data.num_train, lr=config.lr,
                                     weight_decay=config.weight_decay, pi_decay=config.pi_decay, device=device,
                                     pi_lr=resolve_pi_lr(config.pi_lr, data.num_train, config.batch_size,
                                                         config.epochs))
    train, test = _loaders(data, config, 0, AUTHORS_EVAL_BATCH, device.type == "cuda")
    host_losses = np.zeros(data.num_train)          # their per-epoch array of per-sample losses

    def step(x, y, idx) -> float:
        x, y = x.to(device), y.to(device)
        if config.method == "adamw":
            optimizer.zero_grad()
            per_sample = F.cross_entropy(model(x), y, reduction="none")
            loss = per_sample.mean()
            loss.backward()
            optimizer.step()
            host_losses[idx.numpy()] = per_sample.detach().cpu().numpy()
            return loss.item()

        def closure(weights, scale):
            model.zero_grad()
            scaled = F.cross_entropy(model(x), y, reduction="none") * scale
            (weights * scaled).sum().backward()
            return scaled.detach(), scaled.mean().item() / scale

        optimizer.step(closure, idx)
        return optimizer.loss

    def evaluate() -> float:
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y, _ in test:
                correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        return correct / data.num_test

    return _timed_epochs(device, model, optimizer, train, step, evaluate, epochs)


def loop_arithmetic(loop: str, config) -> dict:
    """The precision and memory format ``loop`` runs ``config`` in."""
    if loop == "authors":
        return {"precision": "fp32", "channels_last": False}
    return {"precision": resolved_precision(config), "channels_last": resolved_channels_last(config)}


def _timed_epochs(device, model, optimizer, train, step, evaluate, epochs: int) -> list[dict]:
    """``epochs`` epochs of a reference loop, each timed whole (training and evaluation, between
    device synchronisations); one :func:`_epoch_row` per epoch."""
    rows = []
    for _ in range(epochs):
        sync(device)
        start = time.perf_counter()
        model.train()
        losses = [step(x, y, idx) for x, y, idx in train]
        accuracy = evaluate()
        sync(device)
        rows.append(_epoch_row(time.perf_counter() - start, losses, accuracy, getattr(optimizer, "pi", None)))
    return rows


def _epoch_row(seconds: float, step_losses: list[float], test_acc: float, pi) -> dict:
    return {"seconds": seconds, "train_loss": float(np.mean(step_losses)), "test_acc": float(test_acc),
            "pi_finite": None if pi is None else bool(torch.isfinite(pi).all())}
