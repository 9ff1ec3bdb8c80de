"""Spoken colour classification: the colour of the first object named in a scene's speech,
from the audio encoder alone (8 colours).

    mmlm finetune --config configs/colour_from_speech.py --init-from runs/scenes \
        --workdir runs/colour_from_speech

The task is `TASKS["colour_from_speech"]` of configs/scenes.py, which pretrains the backbone.
"""

from mmlm.config import sibling_config


def get_config(smoke=False):
    return sibling_config(__file__, "scenes.py").task_config("colour_from_speech", smoke)
