"""`distill(config, workdir)`: a `config.model` student learns from a trained teacher run.

The teacher is the backbone another run saved (`mmlm pretrain --set model.preset=base`, say);
the student trains with its pretraining objectives plus the distillation terms of
`DistillationTask`, through the same trainer, callbacks and outputs as `pretrain`, so
`mmlm evaluate --workdir WORKDIR` works on it unchanged.
"""

import dataclasses
import os

from mmlm.config import ConfigError
from mmlm.experiments.artifacts import backbone_path, load_backbone, require_backbone
from mmlm.experiments.pretrain import train_backbone
from mmlm.models.summary import format_model_summary
from mmlm.tasks.builders import build_distillation_task


def distill(config, workdir, teacher_workdir=None, log=print):
    """Trains (or resumes) a student of `config.model` from the teacher run `teacher_workdir`.

    Args:
        config: the `ExperimentConfig`; `compression.distill_*` set the distillation terms,
            `compression.distill_steps` (0: `trainer.steps`) the number of optimizer steps.
        workdir: the student's run directory; the student backbone is saved to
            `workdir/model/backbone.keras` and the resolved config (with the teacher and the
            steps) to `workdir/config.yaml`.
        teacher_workdir: run directory of the trained teacher; None takes
            `config.compression.distill_teacher_workdir`.
        log: line printer.

    Returns:
        (task, history) of the one trainer.

    Raises:
        ConfigError: no teacher is given, or it is the student's own run directory.
        FileNotFoundError: the teacher run has no saved backbone.
        ValueError: the teacher cannot teach this student (modalities, input shapes,
            vocabulary; see `check_teacher`).
    """
    config = resolve_distillation_config(config, teacher_workdir)
    teacher_workdir = config.compression.distill_teacher_workdir
    if os.path.abspath(teacher_workdir) == os.path.abspath(workdir):
        raise ConfigError(
            f"The student's workdir {workdir} is the teacher's: the student would overwrite "
            "the teacher's model. Pick another --workdir."
        )
    _require_teacher(teacher_workdir)

    def make_task(data):
        teacher = load_backbone(teacher_workdir)
        log(f"teacher from {backbone_path(teacher_workdir)} (frozen):")
        log(format_model_summary(teacher, text_length=config.data.text.sequence_length))
        return build_distillation_task(config, data.vocabulary_size, teacher)

    return train_backbone(config, workdir, make_task, log=log)


def resolve_distillation_config(config, teacher_workdir=None):
    """`config` with the teacher and the student's steps made explicit (what the run records).

    Args:
        config: the `ExperimentConfig`.
        teacher_workdir: overrides `compression.distill_teacher_workdir` when given.

    Returns:
        The config with `compression.distill_teacher_workdir` set and `trainer.steps` =
        `compression.distill_steps` (when non-zero).

    Raises:
        ConfigError: neither names a teacher.
    """
    compression = config.compression
    teacher_workdir = teacher_workdir or compression.distill_teacher_workdir
    if not teacher_workdir:
        raise ConfigError(
            "Distillation needs a teacher: pass --teacher TEACHER_WORKDIR (a finished "
            "`mmlm pretrain` run) or set compression.distill_teacher_workdir."
        )
    steps = compression.distill_steps or config.trainer.steps
    return dataclasses.replace(
        config,
        trainer=dataclasses.replace(config.trainer, steps=steps),
        compression=dataclasses.replace(compression, distill_teacher_workdir=teacher_workdir),
    )


def _require_teacher(teacher_workdir):
    """Fails before any training when the teacher run has no saved backbone."""
    require_backbone(
        teacher_workdir,
        "train the teacher, e.g. `mmlm pretrain --config configs/scenes.py --set "
        f"model.preset=base --workdir {teacher_workdir}`,",
    )
