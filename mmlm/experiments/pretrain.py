"""`pretrain(config, workdir)`: data → `PretrainingTask` → the one trainer → saved backbone."""

import dataclasses
import json
import math
import os

import numpy as np

from mmlm.config import with_absolute_paths, write_config
from mmlm.evaluation.evaluator import EmbeddingCollector
from mmlm.experiments.artifacts import backbone_path, model_dir, save_backbone
from mmlm.experiments.callbacks import RetrievalEvaluation
from mmlm.experiments.data import ExperimentData, write_data_report
from mmlm.experiments.explain import has_cross_attention
from mmlm.experiments.model_card import write_model_card
from mmlm.models.summary import format_model_summary
from mmlm.tasks.builders import build_pretraining_task
from mmlm.tasks.pretraining_task import PretrainingTask
from mmlm.training import summaries
from mmlm.training import trainer as trainer_lib
from mmlm.training.strategy import is_chief, make_strategy

_PROJECTOR_EXAMPLES = 256


def pretrain(config, workdir, log=print, callbacks=()):
    """Trains (or resumes) the pretraining run of `config` in `workdir`.

    `callbacks`: extra Keras callbacks of the run (see `train_backbone`).

    Returns:
        (task, history); the backbone is saved to `workdir/model/backbone.keras` (and a
        text-only run's task, with its masked LM head, as the preset's task).
    """
    task, history = train_backbone(
        config,
        workdir,
        lambda data: build_pretraining_task(config, data.vocabulary_size),
        log=log,
        callbacks=callbacks,
    )
    if is_chief() and tuple(task.backbone.modalities) == ("text",) and task.heads:
        # A text-only run is a language model: its masked LM head is part of what it learned
        # (`mmlm evaluate` scores it; `PretrainingTask.from_preset` restores it).
        task.save_to_preset(model_dir(workdir))
    return task, history


def train_backbone(config, workdir, make_task, log=print, init_from=None, callbacks=()):
    """Trains (or resumes) the task `make_task(data)` of `config` with the one trainer.

    What every run that produces a backbone shares (pretraining, distillation): the strategy,
    the resolved `workdir/config.yaml`, the data, the validation callbacks and TensorBoard
    summaries, the model summary, and the trained backbone saved to
    `workdir/model/backbone.keras` (with the validation embeddings for the projector).

    Args:
        config: the `ExperimentConfig` (its `trainer` section is the run's).
        workdir: the run directory.
        make_task: `ExperimentData -> Task` with a `backbone`; called under the strategy
            scope with the precision policy set.
        log: line printer.
        init_from: the run whose backbone the task starts from (its vocabulary is used).
        callbacks: extra Keras callbacks (e.g. `mmlm tune`'s report to its trial), run after
            the validation callbacks, so they see the validation metrics in the logs.

    Returns:
        (task, history).
    """
    # First: splitting the CPU into logical devices (mirrored) and MultiWorkerMirroredStrategy's
    # collectives can only be set up before any TensorFlow operation, and building the data
    # runs some.
    strategy = make_strategy(config.runtime)
    os.makedirs(workdir, exist_ok=True)
    # Absolute data paths: the run's config.yaml then works from any directory.
    config = with_absolute_paths(config)
    data = ExperimentData(config, workdir, init_from)
    config = data.config = steps_for_epochs(config, data, log)
    write_config(config, workdir)
    if is_chief():
        data.save_preprocessor(workdir)  # the run reads text as trained, wherever it goes
        write_data_report(config, data.source, workdir)  # what model cards say it read
    log_dir = os.path.join(workdir, "tensorboard")
    validation = data.dataset("validation")
    chief = _chief_callbacks(config, data, validation, log_dir, log) if is_chief() else []

    def build_task():
        task = make_task(data)
        # Every worker builds the attention model (see `use_attention_model`); the chief uses it.
        if has_cross_attention(task.backbone):
            attention_model = task.backbone.attention_model()
            for callback in chief:
                if isinstance(callback, RetrievalEvaluation):
                    callback.use_attention_model(task.backbone, attention_model)
        log(
            format_model_summary(
                task.backbone,
                # Training FLOPs are counted for the pretraining objectives only.
                task if isinstance(task, PretrainingTask) else None,
                text_length=config.data.text.sequence_length,
                mask_selections=config.objective.mlm_max_selections,
            )
        )
        return task

    task, history = trainer_lib.run(
        build_task=build_task,
        build_dataset=data.training_dataset,
        trainer=config.trainer,
        runtime=config.runtime,
        workdir=workdir,
        global_batch_size=config.data.global_batch_size,
        callbacks=[*chief, *callbacks],
        log=log,
        strategy=strategy,
    )
    if is_chief():
        path = save_backbone(task.backbone, workdir)
        log(f"saved the backbone to {path}")
        write_model_card(config, workdir, model_dir(workdir), "run model", log=log)
        _write_projector(task.backbone, validation, log_dir)
    else:
        # Workers keep their own copy (the distributed test compares it with the chief's).
        save_backbone(task.backbone, os.path.join(workdir, "workers", _task_id()))
    return task, history


def steps_for_epochs(config, data, log=print):
    """`config` with `trainer.steps` set from `trainer.epochs` and the training split's size
    (see `TrainerConfig`); unchanged when `epochs` is 0."""
    t = config.trainer
    if t.epochs <= 0:
        return config
    examples = data.source.num_examples("train")
    steps = min(t.steps, math.ceil(t.epochs * examples / config.data.global_batch_size))
    steps = max(steps, 1)
    log(
        f"{t.epochs:g} epochs of {examples} training examples at batch "
        f"{config.data.global_batch_size}: {steps} steps"
        + (f" (capped by trainer.steps={t.steps})" if steps == t.steps else "")
    )
    trainer = dataclasses.replace(
        t,
        steps=steps,
        warmup_steps=min(t.warmup_steps, max(1, steps // 10)),
        eval_every=min(t.eval_every, steps),
        checkpoint_every=min(t.checkpoint_every, steps),
        log_every=min(t.log_every, steps),
    )
    return dataclasses.replace(config, trainer=trainer)


def _chief_callbacks(config, data, validation, log_dir, log):
    """The chief's callbacks (validation R@K, input media); also writes the HParams.

    Only the chief calls this: other workers would write a second copy of every summary.
    """
    callbacks = [
        RetrievalEvaluation(
            validation, log_dir, max_batches=config.trainer.eval_batches or None, log=log
        ),
        summaries.MediaSummary(
            os.path.join(log_dir, "inputs"),
            next(iter(validation)),
            spectrogram_fn=_spectrogram_fn(config, data),
            sample_rate=config.data.audio.sample_rate,
        ),
    ]
    summaries.write_hparams(
        log_dir,
        dataclasses.asdict(config),
        metrics=["epoch_loss", "epoch_val_loss", "retrieval/text_to_image/R@1"],
    )
    return callbacks


def _task_id():
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return f"{task.get('type', 'worker')}_{task.get('index', 0)}"


def _spectrogram_fn(config, data):
    if "audio" not in data.modalities:
        return None
    from mmlm.layers import LogMelSpectrogram

    frontend = LogMelSpectrogram(**config.data.audio.log_mel_arguments())
    return frontend  # (B, S) waveform → (B, T, M) log-mel


def _write_projector(backbone, dataset, log_dir):
    """Validation embeddings of every modality, labelled by caption, for the projector."""
    batches = dataset.unbatch().take(_PROJECTOR_EXAMPLES).batch(64)
    collected = EmbeddingCollector(backbone).collect(batches)
    labels = [t.decode() if isinstance(t, bytes) else str(t) for t in collected.get("text", [])]
    if not labels:
        labels = [str(i) for i in range(len(next(iter(collected["embeddings"].values()))))]
    embeddings = {m: np.asarray(e) for m, e in collected["embeddings"].items()}
    summaries.write_projector(os.path.join(log_dir, "projector"), embeddings, labels)


__all__ = ["pretrain", "train_backbone", "backbone_path"]
