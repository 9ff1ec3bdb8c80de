"""Generic machinery for frozen config dataclasses: typed overrides, dict and YAML round trips.

Configs are plain frozen dataclasses; nothing here knows the mmlm sections. `override` is what
`--set a.b=value` calls: it parses the string against the field's annotation and names the key,
the expected type and the valid keys when something does not fit.
"""

import dataclasses
import enum
import types
import typing

import yaml


class ConfigError(ValueError):
    """A config key or value that does not fit the config's schema."""


def _field_types(config_cls):
    return typing.get_type_hints(config_cls)


def _type_name(annotation):
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return f"one of {[m.value for m in annotation]}"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _optional_inner(annotation):
    """Returns T for `T | None` / `Optional[T]`, else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0]
    return None


def parse_value(text, annotation, key):
    """Parses the command-line string `text` as a value of type `annotation` (for field `key`)."""
    expected = _type_name(annotation)

    def fail(why=""):
        raise ConfigError(f"--set {key}={text!r}: expected {expected}{why}")

    inner = _optional_inner(annotation)
    if inner is not None:
        return None if text.strip().lower() in ("none", "null") else parse_value(text, inner, key)
    if typing.get_origin(annotation) is tuple:
        element = typing.get_args(annotation)[0]
        items = [item.strip() for item in text.split(",") if item.strip()]
        return tuple(parse_value(item, element, key) for item in items)
    if annotation is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        fail(" (true or false)")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            fail()
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            fail()
    if annotation is str:
        return text
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        for member in annotation:
            if text.strip().lower() in (str(member.value).lower(), member.name.lower()):
                return member
        fail()
    if dataclasses.is_dataclass(annotation):
        valid = [f.name for f in dataclasses.fields(annotation)]
        raise ConfigError(f"--set {key}: is a section, set one of its keys: {valid}")
    raise ConfigError(f"--set {key}: fields of type {expected} cannot be set from the command line")


def _check_type(value, annotation, key):
    """Checks a Python value (from a config file or YAML) against `annotation`."""
    inner = _optional_inner(annotation)
    if inner is not None:
        return None if value is None else _check_type(value, inner, key)
    if typing.get_origin(annotation) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of {_type_name(annotation)}, got {value!r}")
        element = typing.get_args(annotation)[0]
        return tuple(_check_type(v, element, key) for v in value)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if isinstance(value, annotation):
            return value
        return parse_value(str(value), annotation, key)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping for section {annotation.__name__}")
        return from_dict(annotation, value, prefix=f"{key}.")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (bool, int, float, str):
        if type(value) is not annotation:
            raise ConfigError(
                f"{key}: expected {annotation.__name__}, got {type(value).__name__} {value!r}"
            )
    return value


def valid_keys(config):
    """All dotted leaf keys of a config, e.g. ['data.batch_size', ...]."""
    keys = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            keys.extend(f"{field.name}.{k}" for k in valid_keys(value))
        else:
            keys.append(field.name)
    return keys


def override(config, key, text, prefix=""):
    """Returns a copy of `config` with dotted `key` set from the string `text`."""
    head, _, rest = key.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    full_key = prefix + key
    if head not in names:
        keys = ", ".join(prefix + k for k in valid_keys(config))
        raise ConfigError(
            f"--set {full_key}: unknown key {prefix + head!r} in {type(config).__name__}; "
            f"valid keys: {keys}"
        )
    annotation = _field_types(type(config))[head]
    current = getattr(config, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(
                f"--set {full_key}: {prefix + head!r} is a {_type_name(annotation)}, not a section"
            )
        value = override(current, rest, text, prefix=f"{prefix}{head}.")
    else:
        value = parse_value(text, annotation, full_key)
    return dataclasses.replace(config, **{head: value})


def apply_overrides(config, assignments):
    """Applies `["a.b=value", ...]` in order."""
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. data.batch_size=8")
        config = override(config, key.strip(), text)
    return config


def to_dict(config):
    """A plain, YAML-friendly dict (enums as their values, tuples as lists)."""

    def convert(value):
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        return value

    return convert(config)


def from_dict(config_cls, values, prefix=""):
    """Builds `config_cls` from a dict, type-checking every value; unknown keys are errors."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown key {prefix + unknown[0]!r} in {config_cls.__name__}; "
            f"valid keys: {', '.join(prefix + n for n in sorted(names))}"
        )
    hints = _field_types(config_cls)
    kwargs = {k: _check_type(v, hints[k], f"{prefix}{k}") for k, v in values.items()}
    return config_cls(**kwargs)


def to_yaml(config):
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def validate(config, prefix=""):
    """Type-checks every field of a config built in Python (e.g. by an experiment file)."""
    hints = _field_types(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            validate(value, prefix=f"{prefix}{field.name}.")
        else:
            _check_type(value, hints[field.name], f"{prefix}{field.name}")
    return config
