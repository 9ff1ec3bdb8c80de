"""The tuning search space: checks with clear errors, Optuna suggestions, trial configs."""

import dataclasses

import optuna
import pytest

from mmlm.config import (
    ConfigError,
    Decay,
    ExperimentConfig,
    ParameterKind,
    SearchAlgorithm,
    SearchParameter,
    TuningConfig,
    from_dict,
    to_dict,
)
from mmlm.experiments import search_space

LR = SearchParameter("trainer.learning_rate", ParameterKind.FLOAT, low=1e-4, high=1e-2, log=True)
LAYERS = SearchParameter("model.num_layers", ParameterKind.INT, low=1, high=3)
DECAY = SearchParameter("trainer.decay", ParameterKind.CATEGORICAL, choices=("cosine", "linear"))


def _config(*parameters, **tuning):
    return ExperimentConfig(tuning=TuningConfig(parameters=parameters, **tuning))


def test_tuning_section_round_trips_through_yaml_dicts():
    config = _config(LR, LAYERS, DECAY, algorithm=SearchAlgorithm.RANDOM)
    assert from_dict(ExperimentConfig, to_dict(config)) == config


@pytest.mark.parametrize(
    "parameters, tuning, message",
    [
        ((), {}, "tuning.parameters is empty"),
        ((LR, LR), {}, "'trainer.learning_rate' is searched twice"),
        ((SearchParameter("trainer.lr", low=0.1, high=1.0),), {}, "unknown key 'trainer.lr'"),
        ((dataclasses.replace(LR, low=0.0),), {}, "log-scale range needs low > 0"),
        ((dataclasses.replace(LR, low=1.0, high=0.1),), {}, "expected finite low <= high"),
        ((dataclasses.replace(LAYERS, high=2.5),), {}, "int range needs whole low and high"),
        ((LR,), {"algorithm": SearchAlgorithm.GRID}, "needs choices"),
        ((dataclasses.replace(DECAY, choices=("cosine", "sine")),), {}, "trainer.decay='sine'"),
        (
            (SearchParameter("trainer.seed", ParameterKind.CATEGORICAL, choices=("1", "x")),),
            {},
            "expected int",
        ),  # fmt: skip
        ((SearchParameter("tuning.seed", choices=("1",)),), {}, "cannot be tuned"),
        ((LR,), {"num_trials": 0}, "num_trials must be >= 1"),
    ],
)
def test_bad_search_spaces_name_the_parameter(parameters, tuning, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        search_space.check_search_space(_config(*parameters, **tuning))


def test_suggestions_become_typed_config_values():
    config = _config(LR, LAYERS, DECAY)
    search_space.check_search_space(config)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(5):
        trial = study.ask()
        values = search_space.suggest(trial, config.tuning)
        tuned = search_space.trial_config(config, values)
        assert 1e-4 <= tuned.trainer.learning_rate <= 1e-2
        assert tuned.trainer.learning_rate == values["trainer.learning_rate"]
        assert tuned.model.num_layers in (1, 2, 3) and isinstance(tuned.model.num_layers, int)
        assert tuned.trainer.decay in (Decay.COSINE, Decay.LINEAR)
        resolved = search_space.resolved_values(tuned, values)
        assert resolved["trainer.decay"] == values["trainer.decay"]
        study.tell(trial, 0.0)


def test_grid_covers_every_combination():
    grid_lr = dataclasses.replace(LR, choices=("0.001", "0.01"))
    tuning = TuningConfig(parameters=(grid_lr, DECAY), algorithm=SearchAlgorithm.GRID)
    assert search_space.grid_size(tuning) == 4
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(search_space.grid(tuning)))
    seen = set()

    def objective(trial):
        values = search_space.suggest(trial, tuning)
        tuned = search_space.trial_config(ExperimentConfig(), values)
        seen.add((tuned.trainer.learning_rate, tuned.trainer.decay))
        return 1.0

    study.optimize(objective, n_trials=10)  # the grid stops the study after its 4 points
    assert len(study.trials) == 4
    assert seen == {(lr, d) for lr in (0.001, 0.01) for d in (Decay.COSINE, Decay.LINEAR)}


def test_whole_float_range_ends_set_int_fields():
    config = _config(SearchParameter("trainer.steps", ParameterKind.INT, low=5.0, high=7.0))
    search_space.check_search_space(config)  # "5", not "5.0", reaches the int parser
    assert search_space.trial_config(config, {"trainer.steps": 6}).trainer.steps == 6
