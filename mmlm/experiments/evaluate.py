"""`evaluate(config, workdir)`: a trained run's metrics on a split, as a dict and JSON."""

import os

from mmlm.config import DataSource, TaskKind
from mmlm.evaluation.evaluator import evaluate_backbone, scene_attribute_prompts
from mmlm.evaluation.report import format_table
from mmlm.experiments.artifacts import load_backbone, write_json
from mmlm.experiments.data import ExperimentData


def evaluate(config, workdir, split="test", json_path=None, log=print):
    """Retrieval R@1/5/10 in every direction (all, seen, held-out), zero-shot attributes and
    caption perplexity of the backbone trained in `workdir`, on `split`; a fine-tuned
    task (`task.kind`) is scored by `evaluate_generation` / `evaluate_classification`.

    Returns:
        The metrics dict (also written to `json_path` when given, and printed as a table).
    """
    if config.task.kind is not TaskKind.PRETRAINING:
        from mmlm.experiments.evaluate_classification import evaluate_classification
        from mmlm.experiments.evaluate_generation import evaluate_generation

        evaluate_task = {
            TaskKind.GENERATION: evaluate_generation,
            TaskKind.CLASSIFICATION: evaluate_classification,
        }[config.task.kind]
        return evaluate_task(config, workdir, split, json_path, log=log)
    data = ExperimentData(config)
    backbone = load_backbone(workdir)
    prompts = None
    if config.data.source is DataSource.SCENES:
        from mmlm.data.sources.scenes import vocabulary as scenes_vocabulary

        prompts = scene_attribute_prompts(
            scenes_vocabulary.COLOR_NAMES, scenes_vocabulary.SHAPES, scenes_vocabulary.POSITIONS
        )
    metrics = evaluate_backbone(
        backbone,
        data.dataset(split, masks=False, training=False),
        text_preprocessor=data.text_preprocessor() if data.vocabulary else None,
        prompts=prompts,
    )
    metrics = {"split": split, "workdir": os.path.abspath(workdir), **metrics}
    log(format_table(metrics))
    write_json(metrics, json_path, log)
    return metrics
