"""`tune`: trials through the one trainer, the SQLite study resumed after an interruption,
pruning through the Keras callback, and the trials' HParams read back from TensorBoard."""

import json
import os

import numpy as np
import optuna
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from mmlm.backend import keras, tf
from mmlm.config import ConfigError, load_config
from mmlm.experiments import tune as tune_lib
from mmlm.testing.data import prepared_tiny_idx

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "fashion_mnist_tuning.py")
SMALL = ["model.hidden_dim=32", "model.num_layers=1", "model.intermediate_dim=64"]


def tiny_tuning_config(*overrides):
    """The smoke tuning config over the tiny IDX data, a tiny model and 2-step trials."""
    data_config, _ = prepared_tiny_idx()
    return load_config(
        CONFIG + ":smoke",
        [
            f"data.data_dir={data_config.data.data_dir}",
            f"data.idx.directory={data_config.data.idx.directory}",
            f"data.idx.validation_size={data_config.data.idx.validation_size}",
            *SMALL,
            "trainer.steps=2",
            "trainer.eval_every=1",
            "trainer.checkpoint_every=1",
            *overrides,
        ],
    )


class _Trial:
    """What `ReportToTrial` needs of an Optuna trial."""

    def __init__(self, prune_after):
        self.reports = []
        self.prune_after = prune_after

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_after


def _fit(callback, epochs=4):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    return model.fit(
        x, x[:, :1], validation_data=(x, x[:, :1]), epochs=epochs, verbose=0, callbacks=[callback]
    )


def test_report_to_trial_prunes_by_stopping_the_run(tmp_path):
    trial = _Trial(prune_after=2)
    callback = tune_lib.ReportToTrial(trial, "val_loss", True, str(tmp_path / "metric.json"))
    history = _fit(callback)
    assert len(history.history["val_loss"]) == 2 and callback.pruned  # stopped after 2 of 4
    assert [v for _, v in trial.reports] == pytest.approx(history.history["val_loss"])
    assert [s for s, _ in trial.reports] == [1, 2]  # optimizer steps (one batch per epoch)
    assert callback.last() == (2, pytest.approx(history.history["val_loss"][-1]))


def test_report_to_trial_never_prunes_the_last_evaluation(tmp_path):
    trial = _Trial(prune_after=1)
    callback = tune_lib.ReportToTrial(trial, "val_loss", True, str(tmp_path / "metric.json"))
    assert len(_fit(callback, epochs=1).history["val_loss"]) == 1 and not callback.pruned


def test_report_to_trial_names_a_missing_metric(tmp_path):
    callback = tune_lib.ReportToTrial(_Trial(9), "val_accuracy", True, str(tmp_path / "m.json"))
    with pytest.raises(ConfigError, match="tuning.metric='val_accuracy'.*'val_loss'"):
        _fit(callback)


def _sessions(log_dir):
    """{trial name: (hparams, metric)} of the HParams sessions under `log_dir`."""
    sessions = {}
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        if not os.path.isdir(path):
            continue
        events = EventAccumulator(path, size_guidance={"tensors": 0})
        events.Reload()
        content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG]
        )
        (metric,) = events.Tensors("tuning/val_loss")
        hparams = {k: v.number_value for k, v in start.hparams.items()}
        sessions[start.group_name] = (hparams, float(tf.make_ndarray(metric.tensor_proto)))
    return sessions


def test_tune_resumes_an_interrupted_study_and_writes_hparams(tmp_path):
    """A study whose process died during trial 0: the rerun fails it and reruns its values in
    its run directory; every finished trial is in HParams. (More trials and a real kill:
    tests/integration/test_tune_cli.py.)"""
    config = tiny_tuning_config("tuning.num_trials=1", "tuning.prune=false")
    workdir = str(tmp_path / "study")
    os.makedirs(workdir)
    storage = f"sqlite:///{workdir}/{tune_lib.STUDY_FILE}"
    # What a killed `mmlm tune` leaves: a RUNNING trial (its process gone) with its values.
    study = optuna.create_study(storage=storage, study_name=config.name)
    interrupted = study.ask()
    values = tune_lib.search_space.suggest(interrupted, config.tuning)

    lines = []
    table = tune_lib.tune(config, workdir, log=lines.append)

    states = [(row["number"], row["state"], row["retry_of"]) for row in table["trials"]]
    assert states == [(0, "fail", None), (1, "complete", 0)]
    assert table["trials"][0]["interrupted"] and table["trials"][1]["params"] == values
    assert "trial 0 was interrupted: marked failed, rerun from its backup" in lines
    # The rerun trained in trial 0's directory.
    assert os.listdir(os.path.join(workdir, "trials")) == ["0000"]
    with open(os.path.join(workdir, tune_lib.TRIALS_FILE)) as f:
        assert json.load(f) == json.loads(json.dumps(table))

    sessions = _sessions(os.path.join(workdir, "tensorboard"))
    assert sorted(sessions) == ["trial 1"]
    for row in table["trials"][1:]:
        hparams, metric = sessions[f"trial {row['number']}"]
        assert metric == pytest.approx(row["val_loss"])
        assert hparams["trainer.learning_rate"] == pytest.approx(
            row["params"]["trainer.learning_rate"]
        )
        assert hparams["trainer.warmup_steps"] == row["params"]["trainer.warmup_steps"]

    # A finished study reruns nothing.
    again = tune_lib.tune(config, workdir, log=lines.append)
    assert again == table and lines[-2].endswith("0 of 1 trials to run")


def test_a_rerun_does_not_draw_the_first_runs_values_again(tmp_path):
    """The sampler's seed moves on by the trials already in the study."""
    config = tiny_tuning_config("tuning.algorithm=random")
    drawn = []
    for _ in range(2):  # two processes, each asking for one trial
        study = tune_lib._load_study(config, str(tmp_path))
        trial = study.ask()
        drawn.append(tune_lib.search_space.suggest(trial, config.tuning))
        study.tell(trial, 1.0)
    assert drawn[0] != drawn[1]
    os.makedirs(tmp_path / "other")
    again = tune_lib._load_study(config, str(tmp_path / "other"))
    assert tune_lib.search_space.suggest(again.ask(), config.tuning) == drawn[0]


def test_pruning_warmup_exempts_the_first_evaluations():
    config = tiny_tuning_config("trainer.eval_every=50", "tuning.pruning_warmup_evaluations=1")
    warmup = tune_lib._warmup_steps(config)
    assert 50 < warmup <= 100  # the report at step 50 is exempt, the one at 100 is not
    none = tiny_tuning_config("trainer.eval_every=50", "tuning.pruning_warmup_evaluations=0")
    assert tune_lib._warmup_steps(none) == 0
