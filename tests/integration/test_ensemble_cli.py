"""`mmlm ensemble` end to end on tiny IDX images: two bagged classifiers, their evaluation
beside the ensemble's, and the exported SavedModel against the members in memory."""

import json
import os

import numpy as np
import pytest

from mmlm.backend import tf
from mmlm.cli.main import main
from mmlm.config import load_config
from mmlm.experiments import ensemble
from mmlm.testing.data import prepared_tiny_idx

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "fashion_mnist_ensemble.py")
SMALL = ["model.hidden_dim=32", "model.num_layers=1", "model.intermediate_dim=64"]


@pytest.mark.slow
def test_ensemble_trains_evaluates_and_exports(tmp_path):
    data_config, _ = prepared_tiny_idx(num_train=80, validation_size=30)
    overrides = [
        f"data.data_dir={data_config.data.data_dir}",
        f"data.idx.directory={data_config.data.idx.directory}",
        "data.idx.validation_size=30",  # every class in validation: the stacker needs them
        *SMALL,
    ]
    workdir, exported = str(tmp_path / "ensemble"), str(tmp_path / "saved")
    arguments = ["ensemble", "--config", CONFIG + ":smoke", "--members", "2"]
    for override in overrides:
        arguments += ["--set", override]
    assert main([*arguments, "--workdir", workdir, "--export", exported]) == 0

    with open(os.path.join(workdir, "ensemble_metrics.json")) as f:
        metrics = json.load(f)
    assert len(metrics["members"]) == 2 and metrics["num_members"] == 2
    for name in ("best_member", "mean_logits", "stacked"):
        assert 0.0 <= metrics[name]["accuracy"] <= 1.0
    config = load_config(CONFIG + ":smoke", overrides)
    # The members trained on different resamples: their training configs say so.
    for index in range(2):
        member = load_config(os.path.join(ensemble.member_dir(workdir, index), "config.yaml"))
        assert member.data.bootstrap_seed == index and member.trainer.seed == 42 + index

    module = ensemble.ensemble_module(config, workdir, 2)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 3)).astype("uint8")
    expected = module.classify(tf.constant(images))
    loaded = tf.saved_model.load(exported).signatures["classify"](images=tf.constant(images))
    for key in ("logits", "stacked_probabilities"):
        np.testing.assert_allclose(loaded[key], expected[key], atol=1e-5)
