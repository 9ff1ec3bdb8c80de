"""Speech recognition on the scenes: the decoder writes what the spoken caption says.

    mmlm pretrain --config configs/scenes.py --workdir runs/scenes       # the backbone, first
    mmlm finetune --config configs/speech_recognition.py --init-from runs/scenes \
        --workdir runs/speech_recognition
    mmlm evaluate --config configs/speech_recognition.py --workdir runs/speech_recognition \
        --json runs/speech_recognition/metrics.json

Model and data are those of `configs/scenes.py` (see its `finetuning_config`).
"""

import os

from mmlm.config import TaskConfig, TaskKind, load_config_module

TASK = TaskConfig(kind=TaskKind.GENERATION, conditioning=("audio",), target_text="text")


def get_config(smoke=False):
    scenes = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenes.py")
    )
    return scenes.finetuning_config("speech_recognition", TASK, smoke)
