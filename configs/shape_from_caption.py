"""Text classification of a scene attribute: the shape of the first object, from its caption
(text encoder; circle, rectangle, triangle, digit).

    mmlm finetune --config configs/shape_from_caption.py --init-from runs/scenes \
        --workdir runs/shape_from_caption

The task is `TASKS["shape_from_caption"]` of configs/scenes.py, which pretrains the backbone.
"""

from mmlm.config import sibling_config


def get_config(smoke=False):
    return sibling_config(__file__, "scenes.py").task_config("shape_from_caption", smoke)
