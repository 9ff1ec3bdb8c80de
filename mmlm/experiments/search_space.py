"""The search space of a `TuningConfig`: checks, Optuna suggestions, and trial configs.

A trial's values are applied to the experiment config through `mmlm.config.apply_overrides`,
the type-checked path of `--set`, so a tuned key takes exactly the values the command line
would accept.
"""

import dataclasses
import enum
import math

from mmlm.config import ConfigError, ParameterKind, SearchAlgorithm, apply_overrides


def check_search_space(config):
    """Raises `ConfigError` naming the parameter when the search space cannot be searched."""
    tuning = config.tuning
    if not tuning.parameters:
        raise ConfigError("tuning.parameters is empty: there is nothing to tune")
    if tuning.num_trials < 1:
        raise ConfigError(f"tuning.num_trials must be >= 1, got {tuning.num_trials}")
    keys = [p.key for p in tuning.parameters]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ConfigError(f"tuning.parameters: {duplicates[0]!r} is searched twice")
    for index, parameter in enumerate(tuning.parameters):
        where = f"tuning.parameters[{index}] ({parameter.key or 'no key'})"
        if not parameter.key:
            raise ConfigError(f"{where}: key is empty (a dotted config key, e.g. trainer.seed)")
        if parameter.key.startswith("tuning."):
            raise ConfigError(f"{where}: the tuning section itself cannot be tuned")
        grid = tuning.algorithm is SearchAlgorithm.GRID
        if grid or parameter.kind is ParameterKind.CATEGORICAL:
            if not parameter.choices:
                raise ConfigError(
                    f"{where}: needs choices (a grid search and categorical parameters try "
                    "exactly the listed values)"
                )
            values = parameter.choices
        else:
            _check_range(parameter, where)
            values = (parameter.low, parameter.high)
        for value in values:  # every value must pass the key's own type check
            _apply(config, parameter.key, value, where)


def _check_range(parameter, where):
    low, high = parameter.low, parameter.high
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ConfigError(f"{where}: expected finite low <= high, got low={low}, high={high}")
    if parameter.log and low <= 0:
        raise ConfigError(f"{where}: a log-scale range needs low > 0, got {low}")
    if parameter.log and parameter.step:
        raise ConfigError(f"{where}: a log-scale range cannot have a step")
    if parameter.kind is ParameterKind.INT and (low != int(low) or high != int(high)):
        raise ConfigError(f"{where}: an int range needs whole low and high, got {low}, {high}")


def _apply(config, key, value, where):
    try:
        return apply_overrides(config, [f"{key}={_text(value)}"])
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _text(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        # A whole range end (low=1.0) of an int field: --set takes "1", not "1.0".
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def grid(tuning):
    """{key: choices} of a grid search (Optuna's GridSampler search space)."""
    return {p.key: list(p.choices) for p in tuning.parameters}


def grid_size(tuning):
    return math.prod(len(p.choices) for p in tuning.parameters)


def suggest(trial, tuning):
    """{key: value} the Optuna `trial` draws for each parameter (strings for choices)."""
    values = {}
    for p in tuning.parameters:
        if tuning.algorithm is SearchAlgorithm.GRID or p.kind is ParameterKind.CATEGORICAL:
            values[p.key] = trial.suggest_categorical(p.key, list(p.choices))
        elif p.kind is ParameterKind.INT:
            step = int(p.step) if p.step else 1
            values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), step=step, log=p.log)
        else:
            values[p.key] = trial.suggest_float(
                p.key, p.low, p.high, step=p.step or None, log=p.log
            )
    return values


def trial_config(config, values):
    """`config` with a trial's values set (type-checked as `--set` is)."""
    return apply_overrides(config, [f"{key}={_text(value)}" for key, value in values.items()])


def resolved_values(config, keys):
    """{key: the config's value at each dotted key}, enums as their values (for HParams)."""
    values = {}
    for key in keys:
        value = config
        for part in key.split("."):
            value = getattr(value, part)
        if isinstance(value, enum.Enum):
            value = value.value
        elif dataclasses.is_dataclass(value) or isinstance(value, tuple):
            value = str(value)
        values[key] = value
    return values
