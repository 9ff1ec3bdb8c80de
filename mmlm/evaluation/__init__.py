"""Evaluation metrics on NumPy arrays: retrieval R@K, zero-shot accuracy, perplexity, tables."""

from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.evaluation.report import format_table
from mmlm.evaluation.retrieval import (
    DIRECTIONS,
    binomial_interval,
    chance_recall,
    direction_name,
    recall_at_k,
    retrieval_ranks,
    retrieval_report,
)
from mmlm.evaluation.zero_shot import class_embeddings_from_prompts, zero_shot_classify

__all__ = [
    "DIRECTIONS",
    "PerplexityAccumulator",
    "binomial_interval",
    "chance_recall",
    "class_embeddings_from_prompts",
    "direction_name",
    "format_table",
    "recall_at_k",
    "retrieval_ranks",
    "retrieval_report",
    "zero_shot_classify",
]
