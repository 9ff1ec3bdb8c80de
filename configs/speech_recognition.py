"""Speech recognition on the scenes: the decoder writes what the spoken caption says.

    mmlm finetune --config configs/speech_recognition.py --init-from runs/scenes \
        --workdir runs/speech_recognition

The task is `TASKS["speech_recognition"]` of configs/scenes.py, which pretrains the backbone.
"""

from mmlm.config import sibling_config


def get_config(smoke=False):
    return sibling_config(__file__, "scenes.py").task_config("speech_recognition", smoke)
