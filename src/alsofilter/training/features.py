"""The network's penultimate features of the training set, saved once per run for the ``knn``
detector (:mod:`alsofilter.detectors.knn`).

Taken after training, at the last epoch: one eval-mode pass without augmentation over the training
images, reading the input of the network's last linear layer (``model.linear``, after global
average pooling) with a forward hook. It draws no random numbers and changes no parameter, so the
training itself is unchanged (bit-identical signals with or without it).
"""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def penultimate_features(trainer) -> dict[str, np.ndarray]:
    """``{"features": (N, D) float16, "features_epoch": int}`` of a trained
    :class:`~alsofilter.training.trainer.Trainer` (D: the width of its last stage)."""
    model = trainer.model
    captured: list[torch.Tensor] = []
    hook = model.linear.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].float()))
    was_training = model.training
    model.eval()
    try:
        x, size = trainer.x_train, trainer.config.eval_batch_size
        for start in range(0, x.shape[0], size):
            trainer.forward(trainer.normalize(x[start:start + size]))
    finally:
        hook.remove()
        model.train(was_training)
    features = torch.cat(captured).cpu().numpy().astype(np.float16)
    return {"features": features, "features_epoch": np.int64(trainer.epoch)}
