"""Manual page section classification: from the first 48 words of a page's DESCRIPTION, is it
a system call (2), a library function (3), a special file (4), a file format (5) or an overview
(7)? A linear head on the text encoder, fine-tuned from the masked language model of
`configs/manpages_masked_lm.py` (same pages split the same way: no test page was pretrained
on). Scored with accuracy and macro-F1 beside TF-IDF + logistic regression and the majority
class.

    mmlm data generate --config configs/manpages_sections.py
    mmlm finetune --config configs/manpages_sections.py \
        --init-from runs/manpages_masked_lm --workdir runs/manpages_sections
    mmlm evaluate --workdir runs/manpages_sections --json runs/manpages_sections/metrics.json

Without `--init-from` the same run trains from scratch (the control of the pretraining).
"""

import dataclasses

from mmlm.config import TaskConfig, TaskKind, sibling_config

TASK = TaskConfig(
    kind=TaskKind.CLASSIFICATION, modality="text", label_feature="section", num_classes=5
)


def get_config(smoke=False):
    lm = sibling_config(__file__, "manpages_lm.py")
    return lm.downstream_config(
        "manpages_sections",
        TASK,
        smoke,
        smoke_task=dataclasses.replace(TASK, num_classes=2),
    )
