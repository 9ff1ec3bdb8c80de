"""Text-only language models of the Linux manual pages (Debian `manpages` and `manpages-dev`
6.03: sections 2, 3, 4, 5 and 7), pretrained with the one trainer:

- `get_config(objective="causal")`: GPT-style, the text decoder alone predicts each next token
  (the pretraining task's captioning term on a text-only backbone; the fusion offers only its
  null token, so nothing conditions it);
- `get_config(objective="masked")`: BERT-style, the text encoder alone predicts 15 % masked
  tokens (the masked LM term).

`configs/manpages_causal_lm.py` and `configs/manpages_masked_lm.py` select them:

    mmlm data generate --config configs/manpages_causal_lm.py   # prints the page counts
    mmlm pretrain --config configs/manpages_causal_lm.py --workdir runs/manpages_causal_lm
    mmlm evaluate --workdir runs/manpages_causal_lm --json runs/manpages_causal_lm/metrics.json
    mmlm generate --workdir runs/manpages_causal_lm --prompt "the file descriptor" --strategy top_p

Why manual pages: well-edited technical English prose installed on every Debian machine, one
format (`man` macros) a short parser reads, and each page has a one-line NAME summary (the
summarization target of `configs/manpages_summarization.py`) and a section (the label of
`configs/manpages_sections.py`). The packages are pinned; their versions and every count
(pages read, aliases and other sections left out, examples per split) are in the prepared data's
metadata. Pages split by a hash of their name (70/10/20 %), the same in every manpages config,
so no downstream test page was seen in pretraining.
"""

import dataclasses

from mmlm.config import (
    DataConfig,
    DataSource,
    ExperimentConfig,
    ManPagesConfig,
    ManPagesUnit,
    Modality,
    ModelConfig,
    ObjectiveConfig,
    TextConfig,
    TrainerConfig,
)

# Shared by every manpages config: a downstream run loads the pretrained weights, so the model
# and text sections must be the same.
TEXT = TextConfig(
    vocabulary_size=4000, sequence_length=64, lowercase=False, extra_text_features=("summary",)
)
MODEL = ModelConfig(hidden_dim=128, num_layers=2, decoder_layers=2, num_heads=4)


def data_config(unit, smoke=False, **changes):
    """The data section of a manpages config; `smoke` keeps a few pages of sections 2 and 7."""
    pages = ManPagesConfig(unit=unit)
    if smoke:
        pages = dataclasses.replace(pages, sections=("2", "7"))
    data = DataConfig(
        source=DataSource.MANPAGES,
        manpages=pages,
        modalities=(Modality.TEXT,),
        global_batch_size=32,
        shuffle_buffer=30000,
        text=TEXT,
    )
    return dataclasses.replace(data, **changes)


def get_config(smoke=False, objective="causal"):
    causal = objective == "causal"
    if objective not in ("causal", "masked"):
        raise ValueError(f"objective must be 'causal' or 'masked', got {objective!r}")
    config = ExperimentConfig(
        name=f"manpages_{objective}_lm",
        data=data_config(ManPagesUnit.PARAGRAPHS),
        model=MODEL,
        objective=ObjectiveConfig(
            contrastive_weight=0.0,
            masked_lm_weight=0.0 if causal else 1.0,
            masked_image_weight=0.0,
            masked_audio_weight=0.0,
            captioning_weight=1.0 if causal else 0.0,
            caption_modality_dropout=0.0,
        ),
        trainer=TrainerConfig(
            # A masked LM step runs the encoder alone: about a third of a causal step.
            steps=2400 if causal else 1200, learning_rate=1e-3, warmup_steps=60,
            eval_every=300, eval_batches=10, checkpoint_every=300,
        ),
    )  # fmt: skip
    if not smoke:
        return config
    return dataclasses.replace(
        config,
        name=config.name + "_smoke",
        data=data_config(ManPagesUnit.PARAGRAPHS, smoke=True, global_batch_size=8),
        trainer=TrainerConfig(
            steps=3, warmup_steps=1, eval_every=3, eval_batches=2, checkpoint_every=3, log_every=1
        ),
    )


# The one fine-tuning budget of the downstream tasks, so pretrained and from-scratch runs compare.
DOWNSTREAM_TRAINER = TrainerConfig(
    steps=200, learning_rate=5e-4, warmup_steps=20, eval_every=100, checkpoint_every=100
)


def downstream_config(name, task, smoke=False, smoke_task=None, trainer=DOWNSTREAM_TRAINER):
    """A task fine-tuned on the pages (one example per page) with the language models' model
    and text sections (so their weights load); `smoke` shrinks data and steps."""
    config = ExperimentConfig(
        name=name, data=data_config(ManPagesUnit.PAGES), model=MODEL, task=task, trainer=trainer
    )
    if not smoke:
        return config
    return dataclasses.replace(
        config,
        name=f"{name}_smoke",
        data=data_config(ManPagesUnit.PAGES, smoke=True, global_batch_size=8),
        task=smoke_task or task,
        trainer=TrainerConfig(
            steps=3, warmup_steps=1, eval_every=3, checkpoint_every=3, log_every=1
        ),
    )
