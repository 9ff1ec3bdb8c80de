"""Downstream tasks: `finetune` a pretrained backbone on a config's task, `load_task` it back.

A task is a config section (`task`), a head and a loss (`mmlm.tasks`); training is the one
trainer through `train_backbone`, exactly as pretraining. Evaluation: `evaluate_generation`,
`evaluate_classification`.
"""

import collections
import os

import numpy as np

from mmlm.backend import tf
from mmlm.config import ConfigError, TaskKind
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.pretrain import train_backbone
from mmlm.tasks.builders import build_backbone, build_task


def finetune(config, workdir, init_from=None, log=print, callbacks=()):
    """Fine-tunes the backbone pretrained in `init_from` on `config.task` (resumes `workdir`).

    The backbone is rebuilt from `config.model` under the run's precision policy and given the
    pretrained weights (so the model sections of both configs must agree); without `init_from`
    it starts from random weights (a task trained from scratch). A classification head is
    saved beside the backbone (`workdir/model/task.weights.h5`). `callbacks`: extra Keras
    callbacks of the run (see `train_backbone`).

    Returns:
        (task, history); the fine-tuned backbone is saved to `workdir/model/backbone.keras`.
    """
    if config.task.kind is TaskKind.PRETRAINING:
        raise ConfigError(
            "mmlm finetune trains a task: set task.kind to generation or classification "
            "(pretraining runs use `mmlm pretrain`)"
        )
    pretrained = load_backbone(init_from) if init_from else None

    def make_task(data):
        backbone = build_backbone(config, data.vocabulary_size)
        if pretrained is not None:
            _copy_weights(pretrained, backbone, init_from)
        return build_task(config, backbone)

    task, history = train_backbone(
        config, workdir, make_task, log=log, init_from=init_from, callbacks=callbacks
    )
    if config.task.kind is TaskKind.CLASSIFICATION:
        task.save_weights(task_weights_path(workdir))
    return task, history


def task_weights_path(workdir):
    return os.path.join(workdir, "model", "task.weights.h5")


def load_task(config, workdir):
    """The fine-tuned task of `workdir` (backbone, and for classification its head)."""
    task = build_task(config, load_backbone(workdir))
    if config.task.kind is TaskKind.CLASSIFICATION:
        task.build_head()
        task.load_weights(task_weights_path(workdir))
    return task


def classify(task, dataset, features=()):
    """A classification task's outputs over every row of `dataset`, as NumPy arrays.

    Returns:
        {"logits": (N, C), "labels": (N,), "weights": (N,) (1 for rows whose label counts, see
        `ClassificationTask.labels`), and each of `features` as read from the batches}.
    """
    logits_of = tf.function(lambda batch: task(batch, training=False))
    columns = collections.defaultdict(list)
    for batch in dataset:
        labels, weights = task.labels(batch)
        columns["logits"].append(logits_of(batch).numpy())
        columns["labels"].append(labels.numpy())
        columns["weights"].append(weights.numpy())
        for key in features:
            columns[key].append(batch[key].numpy())
    return {key: np.concatenate(values) for key, values in columns.items()}


def _copy_weights(source, target, init_from):
    source_weights, target_weights = source.weights, target.weights
    shapes = [tuple(w.shape) for w in source_weights]
    expected = [tuple(w.shape) for w in target_weights]
    if shapes != expected:
        mismatch = (
            next((s.name, a, b) for s, a, b in zip(source_weights, shapes, expected) if a != b)
            if len(shapes) == len(expected)
            else ("(count)", len(shapes), len(expected))
        )
        raise ConfigError(
            f"the backbone in {init_from} does not match this config's model: {mismatch[0]} "
            f"is {mismatch[1]} there, {mismatch[2]} here (use the pretraining run's model and "
            "data sections)"
        )
    target.set_weights(source.get_weights())
