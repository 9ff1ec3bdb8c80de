"""Scene captioning from images: the decoder writes the caption of a scene's picture.

    mmlm finetune --config configs/captioning.py --init-from runs/scenes \
        --workdir runs/captioning

The task is `TASKS["captioning"]` of configs/scenes.py, which pretrains the backbone.
"""

from mmlm.config import sibling_config


def get_config(smoke=False):
    return sibling_config(__file__, "scenes.py").task_config("captioning", smoke)
