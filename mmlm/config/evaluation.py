"""Evaluation section: what `mmlm evaluate` scores beyond retrieval (see docs/evaluation.md)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """Evaluation section of `mmlm evaluate` (pretraining runs).

    Zero-shot classification from the label column runs when `prompts` or `class_names` is
    set (`--prompt`, `--class-names`); with class names and no prompts, the bare class name
    (template "{}") is embedded. Without either it is off, so evaluating data whose label column
    is empty or holds one class never fails.

    Attributes:
        label_feature: the batch feature holding each example's class label (manifests: the
            `label` column, a string; "" for none). Integer labels are named by the source's
            class names when it has them.
        prompts: templates with one "{}" that a class name fills ("a picture of {}"); the text
            embeddings of every template are averaged per class (prompt ensembling).
        class_names: the competing classes (empty = the distinct non-empty labels of the
            evaluated split, sorted). Rows whose label is not listed are not scored (counted and
            warned about); listed classes absent from the split still compete (warned about).
        ks: the K of the retrieval Recall@K.
    """

    label_feature: str = "label"
    prompts: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    ks: tuple[int, ...] = (1, 5, 10)

    def zero_shot_templates(self):
        """The prompt templates zero-shot classification uses; () when it is off."""
        if self.prompts:
            return self.prompts
        return ("{}",) if self.class_names else ()
