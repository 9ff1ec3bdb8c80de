"""Question answering over scenes: "what colour is the circle in the top left corner",
"where is the red triangle", "how many objects are there", answered from the image.

    mmlm pretrain --config configs/scenes.py --workdir runs/scenes       # the backbone, first
    mmlm finetune --config configs/question_answering.py --init-from runs/scenes \
        --workdir runs/question_answering
    mmlm evaluate --config configs/question_answering.py --workdir runs/question_answering \
        --json runs/question_answering/metrics.json

From the speech instead: `--set task.conditioning=audio`; from both: `image,audio` (with its
own --workdir). Questions and answers come from each scene's structure
(`ScenesSource.question_answer`); the metric that matters is exact match.
"""

import dataclasses

from mmlm.config import TaskConfig, TaskKind, sibling_config

TASK = TaskConfig(
    kind=TaskKind.GENERATION,
    conditioning=("image",),
    source_text="question",
    target_text="answer",
)


def get_config(smoke=False):
    scenes = sibling_config(__file__, "scenes.py")
    config = scenes.finetuning_config("question_answering", TASK, smoke)
    text = dataclasses.replace(
        config.data.text, extra_text_features=("text_es", "question", "answer")
    )
    return dataclasses.replace(config, data=dataclasses.replace(config.data, text=text))
