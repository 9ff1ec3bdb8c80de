"""Evaluation metrics on NumPy arrays: retrieval R@K (strict, duplicate-aware, controls),
zero-shot classification, perplexity, tables."""

from mmlm.evaluation.duplicate_captions import (
    caption_groups,
    duplicate_aware_ranks,
    strict_recall_ceiling,
    unique_caption_fraction,
)
from mmlm.evaluation.label_zero_shot import (
    ZeroShotInputError,
    label_classes,
    label_zero_shot,
    prompt_texts,
)
from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.evaluation.report import format_table
from mmlm.evaluation.retrieval import (
    DIRECTIONS,
    binomial_interval,
    chance_recall,
    control_report,
    derangement,
    direction_name,
    recall_at_k,
    recall_from_ranks,
    retrieval_ranks,
    retrieval_report,
)
from mmlm.evaluation.zero_shot import class_embeddings_from_prompts, zero_shot_classify

__all__ = [
    "DIRECTIONS",
    "PerplexityAccumulator",
    "ZeroShotInputError",
    "binomial_interval",
    "caption_groups",
    "chance_recall",
    "class_embeddings_from_prompts",
    "control_report",
    "derangement",
    "direction_name",
    "duplicate_aware_ranks",
    "format_table",
    "label_classes",
    "label_zero_shot",
    "prompt_texts",
    "recall_at_k",
    "recall_from_ranks",
    "retrieval_ranks",
    "retrieval_report",
    "strict_recall_ceiling",
    "unique_caption_fraction",
    "zero_shot_classify",
]
