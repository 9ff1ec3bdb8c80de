"""English → Spanish translation of the scene captions (apertium's translations as
references; a few Spanish captions exceed the 32-token text length and are truncated in
training, not in the references).

    mmlm pretrain --config configs/scenes.py --workdir runs/scenes       # the backbone, first
    mmlm finetune --config configs/translation.py --init-from runs/scenes \
        --workdir runs/translation
    mmlm evaluate --config configs/translation.py --workdir runs/translation \
        --json runs/translation/metrics.json

Model and data are those of `configs/scenes.py` (see its `finetuning_config`).
"""

import os

from mmlm.config import TaskConfig, TaskKind, load_config_module

TASK = TaskConfig(
    kind=TaskKind.GENERATION, conditioning=(), source_text="text", target_text="text_es"
)


def get_config(smoke=False):
    scenes = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenes.py")
    )
    return scenes.finetuning_config("translation", TASK, smoke)
