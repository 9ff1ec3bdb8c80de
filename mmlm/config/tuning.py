"""The tuning section: the search space and the search of `mmlm tune`."""

import dataclasses
import enum


class SearchAlgorithm(enum.Enum):
    """How `mmlm tune` picks the next trial's values (Optuna samplers)."""

    GRID = "grid"  # every combination of the parameters' `choices` (GridSampler)
    RANDOM = "random"  # independent uniform / log-uniform draws (RandomSampler)
    TPE = "tpe"  # Bayesian: tree-structured Parzen estimator (TPESampler)


class Direction(enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class ParameterKind(enum.Enum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"


@dataclasses.dataclass(frozen=True)
class SearchParameter:
    """One dimension of the search space: a config key and the values it may take.

    Attributes:
        key: the dotted config key the trial sets, as `--set` takes it
            (e.g. "trainer.learning_rate"); the value goes through the same type check.
        kind: float or int ranges (random and TPE draw from [low, high]) or categorical.
        low: lowest value of a float or int range.
        high: highest value of a float or int range.
        log: draw a range on a log scale (low must be > 0).
        step: spacing of drawn values (0: continuous floats; ints default to 1).
        choices: the values a categorical parameter takes, as `--set` strings; a grid search
            tries exactly these for every kind of parameter (so each needs them there).
    """

    key: str = ""
    kind: ParameterKind = ParameterKind.FLOAT
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float = 0.0
    choices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TuningConfig:
    """Tuning section: what `mmlm tune` searches, how, and what it optimizes.

    Each trial is one run of the one trainer (`mmlm pretrain` for a pretraining config,
    `mmlm finetune` for a task) with the trial's values set on the config, in its own run
    directory `WORKDIR/trials/NNNN`.

    Attributes:
        algorithm: grid, random or TPE (Bayesian) search.
        parameters: the search space (empty: nothing to tune, an error).
        num_trials: finished trials (completed or pruned) the study aims for; a grid search
            stops at its number of combinations. A rerun continues up to this count.
        metric: the Keras log the trials are ranked by, read at every evaluation (e.g.
            "val_loss", "val_classification"); a trial's value is its last evaluation's.
        direction: whether a smaller or a larger `metric` is better.
        prune: stop trials whose metric falls behind the median of earlier trials at the same
            step (Optuna's MedianPruner, fed by a Keras callback at each evaluation).
        pruning_startup_trials: trials that always run to the end before any is pruned.
        pruning_warmup_evaluations: evaluations of a trial before it may be pruned.
        startup_trials: random trials before TPE starts modelling.
        seed: seed of the sampler.
        max_retries: times a trial is rerun after the tuning process died while it ran
            (it resumes from its last backup); 0: it stays failed.
    """

    algorithm: SearchAlgorithm = SearchAlgorithm.TPE
    parameters: tuple[SearchParameter, ...] = ()
    num_trials: int = 10
    metric: str = "val_loss"
    direction: Direction = Direction.MINIMIZE
    prune: bool = True
    pruning_startup_trials: int = 3
    pruning_warmup_evaluations: int = 1
    startup_trials: int = 4
    seed: int = 0
    max_retries: int = 1
