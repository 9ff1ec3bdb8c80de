"""Summarization of manual pages: the decoder writes a page's one-line NAME summary ("read from
a file descriptor") from the first 48 words of its DESCRIPTION, fine-tuned from the causal
language model of `configs/manpages_causal_lm.py` (same pages split the same way: no test page
was pretrained on). Scored with ROUGE-1/2/L against the lead-sentence baseline.

    mmlm data generate --config configs/manpages_summarization.py
    mmlm finetune --config configs/manpages_summarization.py \
        --init-from runs/manpages_causal_lm --workdir runs/manpages_summarization
    mmlm evaluate --workdir runs/manpages_summarization \
        --json runs/manpages_summarization/metrics.json

Without `--init-from` the same run trains from scratch (the control of the pretraining).
"""

import dataclasses

from mmlm.config import TaskConfig, TaskKind, sibling_config

TASK = TaskConfig(
    kind=TaskKind.GENERATION, conditioning=(), source_text="text", target_text="summary"
)


def get_config(smoke=False):
    lm = sibling_config(__file__, "manpages_lm.py")
    return lm.downstream_config(
        "manpages_summarization",
        TASK,
        smoke,
        smoke_task=dataclasses.replace(TASK, eval_examples=16),
    )
