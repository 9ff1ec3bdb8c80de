"""Fine-tuning through the one trainer on the smoke scenes: pruning (and its resume), QAT."""

import dataclasses
import glob
import os

import numpy as np
import pytest

from mmlm.backend import tf
from mmlm.compression.quantization import quantize_wrappers
from mmlm.experiments.compression_finetune import (
    prune_and_finetune,
    quantization_aware_finetune,
    restore_objective_heads,
)
from mmlm.tasks.builders import build_backbone
from mmlm.tasks.pretraining_task import PretrainingTask
from mmlm.testing.data import prepared_smoke_scenes
from mmlm.testing.models import tiny_backbone, tiny_batch

# A smaller model than the smoke preset: tracing the whole pretraining task dominates the time.
SMALL = {
    "hidden_dim": 32,
    "num_layers": 1,
    "num_heads": 2,
    "intermediate_dim": 64,
    "fusion_layers": 1,
    "decoder_layers": 1,
    "embedding_dim": 16,
}


def _config(**compression):
    config, _, vocabulary = prepared_smoke_scenes()
    return (
        dataclasses.replace(
            config,
            model=dataclasses.replace(config.model, **SMALL),
            compression=dataclasses.replace(config.compression, **compression),
        ),
        len(vocabulary),
    )


@pytest.mark.slow  # 65 s; pruning itself is unit-tested in tests/compression/test_pruning.py
def test_prune_and_finetune_strips_logs_and_resumes(tmp_path):
    config, vocabulary_size = _config(finetune_steps=2, pruning_frequency=1)
    workdir = str(tmp_path / "pruned")
    lines = []
    stripped, report = prune_and_finetune(
        config, build_backbone(config, vocabulary_size), 0.5, workdir, log=lines.append
    )
    assert "Training 2 steps from step 0" in lines[0]
    for entry in report["weights"].values():
        assert abs(entry["sparsity"] - 0.5) < 0.01
    assert os.path.isfile(os.path.join(workdir, "model", "backbone.keras"))
    assert os.path.isfile(os.path.join(workdir, "sparsity.json"))
    assert glob.glob(os.path.join(workdir, "tensorboard", "sparsity", "events.out.tfevents.*"))

    # The same call on a fresh backbone restores the finished run through the wrappers.
    lines.clear()
    again, _ = prune_and_finetune(
        config, build_backbone(config, vocabulary_size), 0.5, workdir, log=lines.append
    )
    assert "Already finished at step 2" in lines[0]
    for a, b in zip(stripped.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_quantization_aware_finetune(tmp_path):
    config, vocabulary_size = _config(finetune_steps=2, representative_examples=8)
    backbone = build_backbone(config, vocabulary_size)
    result = quantization_aware_finetune(config, backbone, str(tmp_path / "qat"), log=print)
    assert quantize_wrappers(result["backbone"]) and not quantize_wrappers(backbone)
    assert set(result["embedding_models"]) == set(backbone.modalities)


def test_objective_heads_come_from_the_pretraining_backup(tmp_path):
    weights = {"contrastive": 1.0, "masked_lm": 1.0, "masked_image": 1.0}
    batch = tiny_batch(4)
    pretrained = PretrainingTask(tiny_backbone(), weights)
    pretrained.compute_losses(batch, training=False)  # builds the heads
    pretrained.logit_scale.assign(3.0)
    tf.train.Checkpoint(model=pretrained).save(str(tmp_path / "backup" / "chief" / "ckpt"))

    task = PretrainingTask(tiny_backbone(), weights)
    restore_objective_heads(task, str(tmp_path), log=lambda line: None)
    task.compute_losses(batch, training=False)  # the heads build and take the saved values
    assert float(task.logit_scale.numpy()) == 3.0
    for name in ("masked_lm", "masked_image"):
        for a, b in zip(pretrained.heads[name].weights, task.heads[name].weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(FileNotFoundError, match="no backup"):
        restore_objective_heads(task, str(tmp_path / "missing"))
