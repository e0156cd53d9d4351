"""The configuration schema: the one place where each setting's key, type, default, range and
meaning are written (``config.schema.yaml`` beside this module).

Everything else derives from it: Snakemake validates ``config.yaml`` against it and fills its
defaults (``workflow/rules/common.smk``); :func:`validate` does the same for
:func:`alsofilter.config.check_config` and the Python API, and words every violation the way the
rest of the checks do (``config key 'training.lr': 0 is not allowed; must be a number > 0``);
:class:`alsofilter.config.settings.TrainConfig` takes its fields, types and defaults from the
``training`` and ``run`` definitions; the name lists (methods, architectures, ALSO modes, ...)
are the schema's enums (:func:`enum`).

Only what a schema cannot express is checked in Python (:mod:`alsofilter.config.checks`).

jsonschema is imported only where a whole config (or a section) is validated: the training path
(:class:`~alsofilter.config.settings.TrainConfig`, the trainer) runs where only torch, numpy,
pandas, scipy, scikit-learn, matplotlib, pyyaml and pillow are installed (a GPU machine's stock
Python), so it checks its flat settings with :func:`check_settings`.
"""
from __future__ import annotations

import copy
import difflib
import functools
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


class ConfigError(ValueError):
    """A configuration value is not acceptable; the message names the key and what is allowed."""


def fail(key: str, value: Any, allowed: str):
    """Raise the :class:`ConfigError` every check uses: key, bad value, what is allowed."""
    raise ConfigError(f"config key {key!r}: {value!r} is not allowed; {allowed}")


@functools.cache
def load_schema() -> dict[str, Any]:
    """The schema as a dict (read once per process; do not modify it)."""
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resolve(node: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``node`` with a local ``$ref`` (``#/$defs/x``, ``#/properties/x``) replaced by its target;
    keys beside the ``$ref`` (a ``default``) win."""
    schema = load_schema() if schema is None else schema
    node = dict(node)
    while "$ref" in node:
        target: Any = schema
        for part in node.pop("$ref").lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **node}
    return node


def subschema(path: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The (resolved) schema of a dotted ``path``: ``"bmm"``, ``"crossval.folds"``,
    ``"$defs.training"``; ``[]`` steps into a list's items (``"scenarios[].rate"``)."""
    schema = load_schema() if schema is None else schema
    node: Mapping[str, Any] = schema
    parts = path.split(".") if path else []
    if parts and parts[0] == "$defs":
        node, parts = resolve(schema["$defs"][parts[1]], schema), parts[2:]
    for part in parts:
        items = part.endswith("[]")
        node = resolve(node["properties"][part.removesuffix("[]")], schema)
        if items:
            node = resolve(node["items"], schema)
    return resolve(node, schema)


def enum(path: str) -> tuple[Any, ...]:
    """The allowed values at ``path`` (its ``enum``, or its items' ``enum`` for a list)."""
    node = subschema(path)
    if "enum" not in node and "items" in node:
        node = resolve(node["items"])
    return tuple(node["enum"])


def properties(path: str) -> dict[str, dict[str, Any]]:
    """The keys of the object at ``path`` with their (resolved) schemas, in schema order."""
    return {k: resolve(v) for k, v in (subschema(path).get("properties") or {}).items()}


def defaults(path: str, keyword: str = "default") -> dict[str, Any]:
    """The defaults of the keys of the object at ``path`` that have one (copies). ``keyword``
    ``"x-default"``: the training settings' defaults, which validators do not fill in."""
    return {k: copy.deepcopy(v[keyword]) for k, v in properties(path).items() if keyword in v}


def section(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The top-level section ``name`` of ``config`` over its schema defaults (for configs that did
    not go through :func:`validate`, e.g. a test's or the Python API's)."""
    return {**defaults(name), **(config.get(name) or {})}


# ------------------------------------------------------------------------------ validation
def _fill_defaults(validator_class):
    """A validator class that also sets each missing property's ``default`` (the jsonschema FAQ's
    recipe, as Snakemake's ``validate(set_default=True)`` does), then validates the result."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                sub = resolve(sub)   # every $ref points into the root schema's $defs
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    import jsonschema

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


@functools.cache
def _validator_class():
    import jsonschema   # here, not at the top: the training path must not need it (module docstring)

    return _fill_defaults(jsonschema.Draft202012Validator)


def key_name(path) -> str:
    """``["scenarios", 0, "rate"]`` → ``"scenarios[0].rate"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(node: Mapping[str, Any]) -> str:
    """What ``node`` allows, in the words of the checks' messages."""
    node = resolve(node)
    if "oneOf" in node or "anyOf" in node:
        if "description" in node and node.get("description", "").startswith(("a ", "an ")):
            return node["description"]
        return "must be " + " or ".join(describe(alt).removeprefix("must be ").removeprefix("choose ")
                                        for alt in node.get("oneOf", node.get("anyOf")))
    if "enum" in node:
        values = list(node["enum"])
        return f"choose one of {values}" if len(values) > 1 else f"{values[0]}"
    kind = node.get("type")
    if kind == "boolean":
        return "must be true or false"
    if kind in ("integer", "number"):
        word = "an integer" if kind == "integer" else "a number"
        lo, lo_open = node.get("minimum"), node.get("exclusiveMinimum")
        hi, hi_open = node.get("maximum"), node.get("exclusiveMaximum")
        if kind == "integer" and lo == 1 and hi is None:
            return "must be a positive integer"
        if kind == "integer" and lo == 0 and hi is None:
            return "must be a non-negative integer"
        if lo is not None and hi is not None:
            return f"must be {word} in [{lo:g}, {hi:g}]"
        if lo is not None and hi_open is not None:
            return f"must be {word} in [{lo:g}, {hi_open:g})"
        if lo_open is not None and hi_open is not None:
            return f"must be {word} in ({lo_open:g}, {hi_open:g})"
        if lo is not None:
            return f"must be {word} >= {lo:g}"
        if lo_open is not None:
            return f"must be {word} > {lo_open:g}"
        return f"must be {word}"
    if "pattern" in node:
        return f"must match {node['pattern']}" + (f" ({node['description']})" if "description" in node else "")
    if kind == "string":
        return "must be a string"
    if kind == "array":
        items = describe(node.get("items", {})) if "items" in node else ""
        what = "a non-empty list" if node.get("minItems") else "a list"
        unique = ", each entry once" if node.get("uniqueItems") else ""
        return f"give {what}{unique}" + (f" whose entries {items.removeprefix('must ')}" if items else "")
    if kind == "object" or "properties" in node:
        return f"must be a mapping with keys {list(node.get('properties', {}))}"
    if isinstance(kind, list):
        return f"must be one of the types {kind}"
    return "see the schema (alsofilter/config/config.schema.yaml)"


def _message(error: jsonschema.ValidationError, prefix: str = "") -> str:
    key = key_name([prefix, *error.absolute_path] if prefix else error.absolute_path)
    where = f" in {key!r}" if key else ""
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        for name in error.instance:
            if name not in allowed:
                full = f"{key}.{name}" if key else str(name)
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                return f"config key {full!r} is unknown{hint}; allowed keys{where}: {allowed}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        full = f"{key}.{missing[0]}" if key else missing[0]
        return f"config key {full!r} is missing; required{where}: {list(error.validator_value)}"
    if error.validator == "uniqueItems":
        return f"config key {key!r}: {error.instance!r} is not allowed; list each entry once"
    if error.validator == "minItems":
        return f"config key {key!r}: {error.instance!r} is not allowed; {describe(error.schema)}"
    if error.validator == "propertyNames":
        return (f"config key {key!r}: {error.instance!r} is not allowed; a name must match "
                f"{error.validator_value.get('pattern')} (letters, digits, '_' and '-'; it becomes a folder name)")
    return f"config key {key!r}: {error.instance!r} is not allowed; {describe(error.schema)}"


def _ordered(errors: Iterator[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    # the shallowest error first (an unknown section before a bad value inside it), then in key order
    return sorted(errors, key=lambda e: (len(e.absolute_path), key_name(e.absolute_path)))


#: the keywords :func:`check_settings` implements; the others it meets are annotations
_SETTING_KEYWORDS = {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
                     "oneOf"}
_ANNOTATIONS = {"description", "default", "x-default"}


def _is_type(value: Any, kind: str) -> bool:
    # JSON Schema's types as jsonschema checks them: bool is no number, 1.0 is an integer
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return kind == "number" or isinstance(value, int) or value.is_integer()


def _scalar_ok(value: Any, node: Mapping[str, Any]) -> bool:
    node = resolve(node)
    unknown = set(node) - _SETTING_KEYWORDS - _ANNOTATIONS
    if unknown:
        raise NotImplementedError(f"check_settings does not implement the schema keyword(s) {sorted(unknown)}; "
                                  "use validate() (jsonschema) for this part of the schema")
    if "oneOf" in node:
        return sum(_scalar_ok(value, alt) for alt in node["oneOf"]) == 1
    if "type" in node and not _is_type(value, node["type"]):
        return False
    if "enum" in node and not any(isinstance(value, bool) == isinstance(e, bool) and value == e
                                  for e in node["enum"]):
        return False
    if _is_type(value, "number"):
        if "minimum" in node and value < node["minimum"]:
            return False
        if "maximum" in node and value > node["maximum"]:
            return False
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            return False
        if "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]:
            return False
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        return False
    return True


def check_settings(values: Mapping[str, Any], path: str, where: str | None = None) -> None:
    """Check a flat mapping of scalar settings against the object schema at ``path`` (e.g.
    ``"$defs.training"``) without jsonschema, with :func:`validate`'s messages and its order (an
    unknown key first, then the keys in name order). It implements the keywords such settings
    use (type, enum, bounds, pattern, oneOf, $ref) and raises NotImplementedError on any other, so
    the schema cannot outgrow it silently; ``tests/test_config.py`` checks it against
    :func:`validate` on every training key. Raises :class:`ConfigError`."""
    node = subschema(path)
    props = properties(path)
    prefix = where if where is not None else ("" if path.startswith("$defs") else path)
    extra = [k for k in values if k not in props]
    if extra and node.get("additionalProperties") is False:
        full = f"{prefix}.{extra[0]}" if prefix else str(extra[0])
        close = difflib.get_close_matches(str(extra[0]), list(props), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        in_key = f" in {prefix!r}" if prefix else ""
        raise ConfigError(f"config key {full!r} is unknown{hint}; allowed keys{in_key}: {list(props)}")
    for key in sorted(k for k in values if k in props):
        if not _scalar_ok(values[key], props[key]):
            full = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"config key {full!r}: {values[key]!r} is not allowed; {describe(props[key])}")


def validate(config: Mapping[str, Any], path: str | None = None, where: str | None = None) -> dict[str, Any]:
    """A deep copy of ``config`` checked against the schema (or its part at ``path``, e.g.
    ``"bmm"`` or ``"$defs.training"``), with every missing default filled in. Raises
    :class:`ConfigError` with the first violation, worded like the other checks; its key starts
    with ``where`` (default: ``path`` unless it is a ``$defs`` one)."""
    schema = load_schema()
    node = schema if path is None else {**subschema(path), "$defs": schema["$defs"]}
    instance = copy.deepcopy(dict(config))
    errors = _ordered(_validator_class()(node).iter_errors(instance))
    if errors:
        prefix = where if where is not None else ("" if path is None or path.startswith("$defs") else path)
        raise ConfigError(_message(errors[0], prefix))
    return instance
