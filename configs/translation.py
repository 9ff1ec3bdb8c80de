"""English → Spanish translation of the scene captions (apertium's translations as
references; a few Spanish captions exceed the 32-token text length and are truncated in
training, not in the references).

    mmlm finetune --config configs/translation.py --init-from runs/scenes \
        --workdir runs/translation

The task is `TASKS["translation"]` of configs/scenes.py, which pretrains the backbone.
"""

from mmlm.config import sibling_config


def get_config(smoke=False):
    return sibling_config(__file__, "scenes.py").task_config("translation", smoke)
