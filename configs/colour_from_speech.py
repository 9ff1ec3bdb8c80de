"""Spoken colour classification: the colour of the first object named in a scene's speech,
from the audio encoder alone (8 colours).

    mmlm pretrain --config configs/scenes.py --workdir runs/scenes       # the backbone, first
    mmlm finetune --config configs/colour_from_speech.py --init-from runs/scenes \
        --workdir runs/colour_from_speech
    mmlm evaluate --config configs/colour_from_speech.py --workdir runs/colour_from_speech \
        --json runs/colour_from_speech/metrics.json

Model and data are those of `configs/scenes.py` (see its `finetuning_config`).
"""

import os

from mmlm.config import TaskConfig, TaskKind, load_config_module

TASK = TaskConfig(
    kind=TaskKind.CLASSIFICATION, modality="audio", label_feature="object_color", num_classes=8
)


def get_config(smoke=False):
    scenes = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenes.py")
    )
    return scenes.finetuning_config("colour_from_speech", TASK, smoke)
