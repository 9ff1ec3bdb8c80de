"""Text classification of a scene attribute: the shape of the first object, from its caption
(text encoder; circle, rectangle, triangle, digit).

    mmlm pretrain --config configs/scenes.py --workdir runs/scenes       # the backbone, first
    mmlm finetune --config configs/shape_from_caption.py --init-from runs/scenes \
        --workdir runs/shape_from_caption
    mmlm evaluate --config configs/shape_from_caption.py --workdir runs/shape_from_caption \
        --json runs/shape_from_caption/metrics.json

Model and data are those of `configs/scenes.py` (see its `finetuning_config`).
"""

import os

from mmlm.config import TaskConfig, TaskKind, load_config_module

TASK = TaskConfig(
    kind=TaskKind.CLASSIFICATION, modality="text", label_feature="object_shape", num_classes=4
)


def get_config(smoke=False):
    scenes = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenes.py")
    )
    return scenes.finetuning_config("shape_from_caption", TASK, smoke)
