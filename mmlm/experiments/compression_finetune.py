"""Fine-tuning a trained backbone with its pretraining objectives, plainly, pruned or QAT.

Every variant runs the one trainer (`mmlm.training.trainer.run`), so a rerun with the same
`workdir` resumes from `workdir/backup` (or restores a finished run). Give each variant its own
`workdir`: a backup only restores into the same wrapped structure.
"""

import dataclasses
import json
import os

from mmlm.backend import tf
from mmlm.compression.pruning import (
    UpdatePruningStep,
    make_pruning_schedule,
    prune_backbone,
    strip_pruning,
)
from mmlm.compression.quantization import calibrate_ranges, quantize_backbone
from mmlm.compression.sparsity import SparsitySummaries, sparsity_report, write_sparsity_summaries
from mmlm.config.sections import Precision, PruningSchedule
from mmlm.experiments.artifacts import save_backbone
from mmlm.experiments.data import ExperimentData
from mmlm.tasks.builders import build_pretraining_task
from mmlm.tasks.pretraining_task import captioning_inputs
from mmlm.training import trainer as trainer_lib

# Share of the fine-tuning over which a polynomial schedule reaches its final sparsity; the rest
# recovers at that sparsity (TFMOT's practice: the last mask updates hurt most).
PRUNING_SHARE = 0.75


def finetune_trainer_config(trainer, steps, learning_rate):
    """The `TrainerConfig` of a short fine-tuning derived from a run's `trainer` section.

    Same optimizer, decay, clipping, accumulation and seed; `steps` steps at peak
    `learning_rate` after a warmup of a tenth of them; no batch ramp-up, no early stopping and
    one evaluation "epoch" (the fine-tuning passes no validation data).
    """
    if steps < 1 or learning_rate <= 0:
        raise ValueError(f"Need steps >= 1 and learning_rate > 0, got {steps}, {learning_rate}.")
    return dataclasses.replace(
        trainer,
        steps=steps,
        learning_rate=learning_rate,
        warmup_steps=max(1, steps // 10),
        eval_every=steps,
        checkpoint_every=min(trainer.checkpoint_every, steps),
        log_every=min(trainer.log_every, steps),
        batch_ramp_up_steps=0,
        initial_batch_size=0,
        early_stopping_patience=0,
    )


def finetune_backbone(
    config,
    backbone,
    workdir,
    *,
    steps,
    learning_rate,
    callbacks=(),
    transform=None,
    data=None,
    init_from=None,
    log=print,
):
    """Trains `backbone` further with the pretraining objectives of `config`.

    Runs in float32 whatever `config.runtime.precision` says: the backbone keeps the policy it
    was built with (a loaded one is float32), and TFMOT's pruning wrappers and fake-quant ops
    need float32 variables and inputs. Without XLA whatever `config.runtime.jit_compile` says:
    those wrappers are not tested under it. Validation is off: the callers measure the result.

    Args:
        config: the `ExperimentConfig` (data, objectives, trainer and runtime sections).
        backbone: a trained `MultimodalBackbone`; its weights are trained in place (those of
            a copy if `transform` copies).
        workdir: run directory (`backup/`, `tensorboard/`).
        steps: optimizer steps.
        learning_rate: peak learning rate (see `finetune_trainer_config`).
        callbacks: extra Keras callbacks (they see the task as `self.model`).
        transform: optional `backbone -> backbone` applied under the strategy scope, where the
            task is built (pruning or quantization wrappers); None trains `backbone` itself.
        data: the `ExperimentData` of `config` (built if None).
        init_from: the pretraining run directory `backbone` comes from: the objectives' heads
            (masked LM / patch heads) and the temperature start from its last backup. None
            starts them fresh: a saved backbone does not hold them, and random heads send
            large, meaningless gradients into the backbone for the first steps (measured on
            the scenes run: masked-LM loss 5.1 instead of 1.35 at the first step).
        log: line printer.
    Returns:
        The trained task's backbone (`transform(backbone)` when given).
    """
    data = data or ExperimentData(config, workdir, init_from)
    os.makedirs(workdir, exist_ok=True)

    def build_task():
        model = backbone if transform is None else transform(backbone)
        task = build_pretraining_task(config, data.vocabulary_size, backbone=model)
        if init_from is not None:
            restore_objective_heads(task, init_from, log=log)
        return task

    def build_dataset(split, input_context, global_batch_size):
        if split != "train":
            return None
        return data.training_dataset(split, input_context, global_batch_size)

    task, _ = trainer_lib.run(
        build_task=build_task,
        build_dataset=build_dataset,
        trainer=finetune_trainer_config(config.trainer, steps, learning_rate),
        runtime=dataclasses.replace(config.runtime, precision=Precision.FLOAT32, jit_compile=False),
        workdir=workdir,
        global_batch_size=config.data.global_batch_size,
        callbacks=list(callbacks),
        log=log,
    )
    return task.backbone


def restore_objective_heads(task, run_dir, log=print):
    """Loads a `PretrainingTask`'s heads and temperature from a run's last backup.

    The backup (`run_dir/backup/chief`, written by the trainer) holds the whole task; only
    `heads`, `logit_scale` (and a sigmoid loss's `logit_bias`) are read, so the backbone may be
    wrapped differently. The values are assigned when the heads build (deferred restoration).

    Args:
        task: a `PretrainingTask`.
        run_dir: a pretraining run directory.
        log: line printer.
    Raises:
        FileNotFoundError: the run has no backup.
    """
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "backup", "chief"))
    if path is None:
        raise FileNotFoundError(f"no backup in {run_dir}/backup/chief to take the heads from")
    parts = {"heads": task.heads, "logit_scale": task.logit_scale}
    if task.logit_bias is not None:  # the sigmoid contrastive loss's bias
        parts["logit_bias"] = task.logit_bias
    parts = tf.train.Checkpoint(**parts)
    tf.train.Checkpoint(model=parts).restore(path).expect_partial()
    log(f"objective heads and temperature from {path}")


def pruning_schedule_of(compression, sparsity):
    """The TFMOT schedule of `compression` reaching `sparsity` within `finetune_steps`."""
    steps, frequency = compression.finetune_steps, compression.pruning_frequency
    end_step = steps
    if PruningSchedule(compression.pruning_schedule) is PruningSchedule.POLYNOMIAL:
        end_step = max(frequency, int(steps * PRUNING_SHARE) // frequency * frequency)
    if end_step > steps:
        raise ValueError(
            f"compression.finetune_steps={steps} leaves no mask update at "
            f"compression.pruning_frequency={frequency}; lower the frequency or add steps."
        )
    return make_pruning_schedule(
        compression.pruning_schedule,
        sparsity,
        end_step=end_step,
        initial_sparsity=compression.pruning_initial_sparsity,
        frequency=frequency,
    )


def prune_and_finetune(config, backbone, sparsity, workdir, init_from=None, log=print, m_by_n=None):
    """Prunes `backbone` to `sparsity` while fine-tuning it with the pretraining objectives.

    Schedule, frequency, steps and learning rate come from `config.compression` (a polynomial
    schedule reaches `sparsity` after `PRUNING_SHARE` of the steps). Mask
    sparsity is logged to `workdir/tensorboard/sparsity` while training, and the stripped
    weights' sparsity at the end; the report is also written to `workdir/sparsity.json` and
    the stripped backbone to `workdir/model/backbone.keras` (so `mmlm evaluate` runs on it).

    Args:
        config: the `ExperimentConfig`.
        backbone: a trained `MultimodalBackbone`; it is pruned in place and returned.
        sparsity: final sparsity of every prunable kernel (m / n with `m_by_n`).
        workdir: this variant's own run directory.
        init_from: the pretraining run directory (see `finetune_backbone`).
        log: line printer.
        m_by_n: e.g. (2, 4): m zeros in every n consecutive input weights of each kernel
            (`mmlm.compression.m_by_n`) instead of unstructured magnitude pruning.
    Returns:
        `(stripped_backbone, sparsity_report)`.
    """
    c = config.compression
    if m_by_n and abs(sparsity - m_by_n[0] / m_by_n[1]) > 1e-6:
        raise ValueError(
            f"{m_by_n[0]}:{m_by_n[1]} structured sparsity is {m_by_n[0] / m_by_n[1]:.0%}; "
            f"got sparsity={sparsity}."
        )
    schedule = pruning_schedule_of(c, sparsity)
    log_dir = os.path.join(workdir, "tensorboard", "sparsity")
    pruned = finetune_backbone(
        config,
        backbone,
        workdir,
        steps=c.finetune_steps,
        learning_rate=c.finetune_learning_rate,
        callbacks=[UpdatePruningStep(), SparsitySummaries(log_dir, every=c.pruning_frequency)],
        transform=lambda model: prune_backbone(model, schedule, sparsity_m_by_n=m_by_n),
        init_from=init_from,
        log=log,
    )
    stripped = strip_pruning(pruned, backbone)
    report = sparsity_report(stripped)
    write_sparsity_summaries(report, log_dir, step=c.finetune_steps)
    with open(os.path.join(workdir, "sparsity.json"), "w") as f:
        json.dump(report, f, indent=1)
    save_backbone(stripped, workdir)
    log(f"pruned to {report['overall']['sparsity']:.3f} sparsity (target {sparsity}) in {workdir}")
    return stripped, report


def quantization_aware_finetune(config, backbone, workdir, init_from=None, log=print):
    """Fine-tunes a quantization-aware copy of `backbone` with the pretraining objectives.

    The copy (`quantize_backbone`) has its fake-quant ranges calibrated on
    `compression.representative_examples` training examples before the first step, then trains
    for `compression.finetune_steps` at `compression.finetune_learning_rate`.

    Args:
        config: the `ExperimentConfig`.
        backbone: a trained float `MultimodalBackbone` (left unchanged).
        workdir: this variant's own run directory.
        init_from: the pretraining run directory (see `finetune_backbone`).
        log: line printer.
    Returns:
        {"backbone": the QAT backbone, "embedding_models": {modality: its embedding model}}.
        Convert an embedding model with `mmlm.compression.tflite.convert(..., "int8",
        representative_data)` for int8 matmuls (the QAT ranges are kept, the rest calibrated),
        or "dynamic" for int8 kernels with float activations; it does not save to `.keras`.
    """
    c = config.compression
    data = ExperimentData(config, workdir, init_from)
    batch_size = config.data.global_batch_size
    count = max(1, c.representative_examples // batch_size)

    def transform(model):
        qat = quantize_backbone(model)
        batches = data.training_dataset("train", None, batch_size).take(count)
        used = calibrate_ranges(qat, (_backbone_inputs(b, qat.modalities) for b in batches))
        log(f"calibrated the fake-quant ranges on {used} batches of {batch_size}")
        return qat

    qat = finetune_backbone(
        config,
        backbone,
        workdir,
        steps=c.finetune_steps,
        learning_rate=c.finetune_learning_rate,
        transform=transform,
        data=data,
        init_from=init_from,
        log=log,
    )
    return {
        "backbone": qat,
        "embedding_models": {m: qat.embedding_model(m) for m in qat.modalities},
    }


def _backbone_inputs(batch, modalities):
    """Backbone inputs of a training batch with every modality shown to the fusion."""
    inputs = captioning_inputs(batch, modalities)
    if "text" in modalities:
        inputs["text_present"] = tf.cast(batch["text_present"], tf.bool)
    return inputs
