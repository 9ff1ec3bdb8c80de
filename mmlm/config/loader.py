"""Resolves `--config` + `--set` into an `ExperimentConfig` and writes it into a run directory.

`--config` is a Python experiment file exposing `get_config(smoke=False)` (optionally followed by
`:smoke`, as big_vision's `config.py:runlocal`), or a YAML file written by an earlier run.
"""

import dataclasses
import importlib.util
import os
import warnings

import yaml

from mmlm import atomic_files
from mmlm.config import base
from mmlm.config.experiment import ExperimentConfig


def load_config_module(path):
    """The Python module of an experiment file (for experiment files that derive from another).

    Example (in `configs/captioning.py`):
    >>> scenes = load_config_module(os.path.join(os.path.dirname(__file__), "scenes.py"))
    >>> config = scenes.finetuning_config("captioning", TASK, smoke)
    """
    module_name = "mmlm_experiment_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sibling_config(file, name):
    """The module of the experiment file `name` in the folder of `file` (pass `__file__`).

    Example (in `configs/captioning.py`):
    >>> sibling_config(__file__, "scenes.py").finetuning_config("captioning", TASK, smoke)
    """
    return load_config_module(os.path.join(os.path.dirname(os.path.abspath(file)), name))


def _load_python(path, variant):
    if variant not in ("", "smoke"):
        raise base.ConfigError(f"--config {path}:{variant}: the only variant is ':smoke'")
    module = load_config_module(path)
    if not hasattr(module, "get_config"):
        raise base.ConfigError(f"--config {path}: defines no get_config(smoke=False)")
    config = module.get_config(smoke=variant == "smoke")
    if not isinstance(config, ExperimentConfig):
        raise base.ConfigError(
            f"--config {path}: get_config returned {type(config).__name__}, "
            "expected ExperimentConfig"
        )
    return base.validate(config)


# Keys that run directories written by earlier releases may hold → what replaced them. Their
# values are ignored (with a warning) so that old runs keep loading.
RETIRED_KEYS = {
    ("compression", "pruning_sparsity"): "compression.pruning_sparsities",
    ("compression", "quantize"): "export.quantize",
}


def _drop_retired_keys(values, path):
    for (section, key), replacement in RETIRED_KEYS.items():
        if key in (values.get(section) or {}):
            del values[section][key]
            warnings.warn(
                f"{path}: {section}.{key} is no longer used (see {replacement}); ignored",
                stacklevel=3,
            )
    return values


def load_config(spec, overrides=()):
    """Loads `path.py[:smoke]` or `path.yaml` and applies `KEY=VALUE` overrides."""
    path, _, variant = spec.partition(":")
    if not os.path.isfile(path):
        raise base.ConfigError(f"--config {path}: no such file")
    if path.endswith(".py"):
        config = _load_python(path, variant)
    elif path.endswith((".yaml", ".yml")):
        with open(path, encoding="utf-8") as f:
            values = _drop_retired_keys(yaml.safe_load(f) or {}, path)
        config = base.from_dict(ExperimentConfig, values)
    else:
        raise base.ConfigError(f"--config {path}: expected a .py experiment file or a .yaml file")
    return base.apply_overrides(config, overrides)


def write_config(config, directory, filename="config.yaml"):
    """Writes the resolved config as YAML; returns the file path."""
    return atomic_files.write_text(os.path.join(directory, filename), base.to_yaml(config))


def with_absolute_paths(config):
    """`config` with its data directory and manifest path made absolute (from the current
    directory), so that the run's config.yaml resolves them from anywhere."""
    data = config.data
    manifest = data.manifest
    if manifest.path:
        manifest = dataclasses.replace(manifest, path=os.path.abspath(manifest.path))
    data = dataclasses.replace(data, data_dir=os.path.abspath(data.data_dir), manifest=manifest)
    return dataclasses.replace(config, data=data)
