"""Scene captioning from images: the decoder writes the caption of a scene's picture.

    mmlm pretrain --config configs/scenes.py --workdir runs/scenes       # the backbone, first
    mmlm finetune --config configs/captioning.py --init-from runs/scenes \
        --workdir runs/captioning
    mmlm evaluate --config configs/captioning.py --workdir runs/captioning \
        --json runs/captioning/metrics.json

Model and data are those of `configs/scenes.py` (see its `finetuning_config`).
"""

import os

from mmlm.config import TaskConfig, TaskKind, load_config_module

TASK = TaskConfig(kind=TaskKind.GENERATION, conditioning=("image",), target_text="text")


def get_config(smoke=False):
    scenes = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenes.py")
    )
    return scenes.finetuning_config("captioning", TASK, smoke)
