"""Settings of a training run, importable without torch (the Snakefile reads them).

:class:`TrainConfig` is derived from the schema (:mod:`alsofilter.config.schema`): one field per
key of its ``training`` and ``run`` definitions, with the type and the ``x-default`` written
there, and the same checks. A key added to the schema is a field here, a valid config key and a
documented setting at once.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from alsofilter.config import schema

METHODS = schema.enum("$defs.method")
ARCHS = schema.enum("$defs.arch")
ALSO_MODES = schema.enum("$defs.training.also_mode")
#: keys of the config's training section (what a user may set; the run keys come from the grid)
TRAINING_KEYS = tuple(schema.properties("$defs.training"))
#: keys a run gets from the grid: method, arch, seed, device
RUN_KEYS = tuple(schema.properties("$defs.run"))

#: ``pi_lr: auto``: the authors' π step size times their number of training steps, kept constant.
#: The π update moves log π_i by −η·(N/|B|)·CE_i once per epoch (SPEC §2), so after E epochs by
#: −η·(N/|B|)·E·mean CE_i = −η·steps·mean CE_i: how far π separates samples depends on η·steps,
#: not on η alone. Authors (CIFAR-10): η = 1e-5, N = 50 000, |B| = 64, 100 epochs → 0.78125.
PI_LR_STEP_PRODUCT = 1e-5 * (50_000 / 64) * 100

#: compute of a run relative to AdamW on a ResNet-18 at equal width, data and epochs: ResNet-34
#: has about twice the multiply-adds, an ALSO extragradient step two forward/backward passes
ARCH_COST = {"resnet18": 1.0, "resnet34": 2.0}

_PYTHON_TYPES = {"integer": int, "number": float, "boolean": bool, "string": str}


def _field_type(node: dict[str, Any]):
    if "oneOf" in node:
        return " | ".join(_PYTHON_TYPES[schema.resolve(alt)["type"]].__name__ for alt in node["oneOf"])
    return _PYTHON_TYPES[node["type"]]


def _fields(definitions=("$defs.training", "$defs.run")) -> list[tuple[str, Any, dataclasses.Field]]:
    fields = []
    for path in definitions:
        for name, node in schema.properties(path).items():
            fields.append((name, _field_type(node), dataclasses.field(
                default=node["x-default"], metadata={"description": node.get("description", ""), "schema": path})))
    return fields


#: ``compile`` modes that capture the network in CUDA graphs (``max-autotune`` does too)
CUDA_GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")


def compile_conflict(method: str, also_mode: str, compile_mode: str) -> str | None:
    """Why ``compile_mode`` may not train ``method`` in ``also_mode``, or None. ALSO's
    extragradient runs the network twice per step and reads the first pass's outputs after the
    second; in CUDA graphs the second replay overwrites them (torch: "accessing tensor output of
    CUDAGraphs that has been overwritten by a subsequent run"). Refused until it has been
    measured on a GPU."""
    if compile_mode in CUDA_GRAPH_COMPILE_MODES and method != "adamw" and also_mode == "extragrad":
        return (f"compile {compile_mode!r} captures the network in CUDA graphs, and ALSO's extragradient "
                "(also_mode: extragrad) reads its first pass's outputs after the second pass has replayed the "
                "graph over them; this combination is refused until it has been measured on a GPU. Use compile: "
                "default (no CUDA graphs), or also_mode: descent-ascent or optimistic (one pass per step)")
    return None


def _post_init(self) -> None:
    values = dataclasses.asdict(self)
    try:
        # without jsonschema: the training path runs where only torch & co are installed
        schema.check_settings({k: values[k] for k in TRAINING_KEYS}, "$defs.training", where="training")
        schema.check_settings({k: values[k] for k in RUN_KEYS}, "$defs.run")
    except schema.ConfigError as err:
        raise ValueError(f"invalid training setting: {err}") from None
    conflict = compile_conflict(self.method, self.also_mode, self.compile)
    if conflict:
        raise ValueError(f"invalid training setting: training.compile: {conflict}")


@classmethod
def _from_dict(cls, values: dict) -> "TrainConfig":
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown}; known: {sorted(known)}")
    return cls(**values)


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig", _fields(), namespace={"__post_init__": _post_init, "from_dict": _from_dict,
                                         "__module__": __name__})
TrainConfig.__doc__ = ("Settings of one training run: every key of the schema's ``training`` and ``run`` "
                       "definitions, with its ``x-default`` (the authors' CIFAR-10 settings, SPEC §2). "
                       "Invalid values raise ValueError with the schema's wording.")


def relative_cost(settings: dict, training_samples: int | None = None) -> float:
    """Rough compute of a training run (arbitrary units, for scheduling the longest jobs first):
    architecture × ALSO's passes per step × (width / 64)² × epochs × training samples / 50 000."""
    method, mode = settings.get("method", TrainConfig.method), settings.get("also_mode", TrainConfig.also_mode)
    passes = 2.0 if method != "adamw" and mode == "extragrad" else 1.0
    width = settings.get("width", TrainConfig.width) / 64
    n = (training_samples or 50_000) / 50_000
    return ARCH_COST.get(settings.get("arch", TrainConfig.arch), 1.0) * passes * width ** 2 * settings.get(
        "epochs", TrainConfig.epochs) * n


def base_method(name: str) -> str:
    """The method a run name trains with: ``also-min`` for ``also-min`` and for its variants
    (``also-min-da``: a method's name, a hyphen and a suffix; the config's ``variants``).
    Raises ValueError for any other name."""
    for method in sorted(METHODS, key=len, reverse=True):
        if name == method or (str(name).startswith(method + "-") and len(name) > len(method) + 1):
            return method
    raise ValueError(f"{name!r} is neither a method ({', '.join(METHODS)}) nor a variant's name "
                     "(<method>-<suffix>, e.g. also-min-da)")


def resolve_pi_lr(pi_lr, num_samples: int, batch_size: int, epochs: int) -> float:
    """``pi_lr`` as a number: ``"auto"`` → :data:`PI_LR_STEP_PRODUCT` / (N/|B| · epochs), which
    gives 1e-5 at the authors' scale and keeps η·steps there on any other N, batch or epochs."""
    if pi_lr == "auto":
        return PI_LR_STEP_PRODUCT / (num_samples / batch_size * epochs)
    return float(pi_lr)
