"""Downstream tasks: `finetune` a pretrained backbone on a task; evaluate generation and
classification.

A task is a config section (`task`), a head and a loss (`mmlm.tasks`); training is the one
trainer through `train_backbone`, exactly as pretraining.
"""

import json
import os

import numpy as np

from mmlm.backend import tf
from mmlm.config import ConfigError, TaskKind
from mmlm.evaluation.classification import classification_report
from mmlm.evaluation.ngram import KneserNeyLanguageModel
from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.evaluation.text_metrics import (
    cider,
    corpus_bleu,
    exact_match,
    sacrebleu_report,
    word_error_rate,
)
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.generate import generator_for
from mmlm.experiments.pretrain import train_backbone
from mmlm.models.builder import build_backbone
from mmlm.models.multimodal_backbone import ENCODER_INPUTS
from mmlm.tasks.builders import build_generation_task, build_task
from mmlm.tasks.generation_task import target_keys

_SHOWN_EXAMPLES = 8
NGRAM_ORDER = 4


def finetune(config, workdir, init_from, log=print):
    """Fine-tunes the backbone pretrained in `init_from` on `config.task` (resumes `workdir`).

    The backbone is rebuilt from `config.model` under the run's precision policy and given the
    pretrained weights (so the model sections of both configs must agree). A classification
    head is saved beside the backbone (`workdir/model/task.weights.h5`).

    Returns:
        (task, history); the fine-tuned backbone is saved to `workdir/model/backbone.keras`.
    """
    if config.task.kind is TaskKind.PRETRAINING:
        raise ConfigError(
            "mmlm finetune trains a task: set task.kind to generation or classification "
            "(pretraining runs use `mmlm pretrain`)"
        )
    pretrained = load_backbone(init_from)

    def make_task(data):
        backbone = build_backbone(config, data.vocabulary_size)
        _copy_weights(pretrained, backbone, init_from)
        return build_task(config, backbone)

    task, history = train_backbone(config, workdir, make_task, log=log)
    if config.task.kind is TaskKind.CLASSIFICATION:
        task.save_weights(task_weights_path(workdir))
    return task, history


def task_weights_path(workdir):
    return os.path.join(workdir, "model", "task.weights.h5")


def load_task(config, workdir, data):
    """The fine-tuned task of `workdir` (backbone, and for classification its head)."""
    task = build_task(config, load_backbone(workdir))
    if config.task.kind is TaskKind.CLASSIFICATION:
        task(next(iter(data.dataset("test", masks=False, training=False))))  # builds the head
        task.load_weights(task_weights_path(workdir))
    return task


def _copy_weights(source, target, init_from):
    source_weights, target_weights = source.weights, target.weights
    shapes = [tuple(w.shape) for w in source_weights]
    expected = [tuple(w.shape) for w in target_weights]
    if shapes != expected:
        mismatch = (
            next((s.name, a, b) for s, a, b in zip(source_weights, shapes, expected) if a != b)
            if len(shapes) == len(expected)
            else ("(count)", len(shapes), len(expected))
        )
        raise ConfigError(
            f"the backbone in {init_from} does not match this config's model: {mismatch[0]} "
            f"is {mismatch[1]} there, {mismatch[2]} here (use the pretraining run's model and "
            "data sections)"
        )
    target.set_weights(source.get_weights())


def evaluate_generation(config, workdir, split="test", json_path=None, log=print):
    """Generates the target text of every `split` example and scores it.

    Metrics: corpus BLEU-4 (keras-nlp, 0-100), CIDEr-D, exact match, word error rate,
    sacrebleu's BLEU and chrF with their signatures, the decoder's teacher-forced perplexity
    of the references; BLEU-4 also for the seen and held-out subsets when the data has them.

    Returns:
        The metrics dict (also written to `json_path` and printed).
    """
    data = ExperimentData(config)
    backbone = load_backbone(workdir)
    text_preprocessor = data.text_preprocessor()
    task = build_generation_task(config, backbone)
    generator = generator_for(config, backbone, text_preprocessor)
    generate = tf.function(lambda inputs: generator(inputs)["token_ids"])
    target = config.task.target_text
    hypotheses, references, heldout = [], [], []
    perplexity = PerplexityAccumulator()
    dataset = data.dataset(split, masks=False, training=False)
    if config.task.eval_examples:
        dataset = (
            dataset.unbatch().take(config.task.eval_examples).batch(config.data.global_batch_size)
        )
    test_sequences = []
    for batch in dataset:
        test_sequences += _token_sequences(batch, target)
        token_ids = generate(task.generator_inputs(batch))
        hypotheses += [t.decode("utf-8") for t in text_preprocessor.detokenize(token_ids).numpy()]
        references += [_normalize(t.decode("utf-8")) for t in batch[target].numpy()]
        if "heldout" in batch:
            heldout += list(batch["heldout"].numpy())
        logits = backbone(task.backbone_inputs(batch), training=False)["decoder_logits"]
        labels, weights = task.target_labels(batch)
        cross_entropy = tf.keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
        perplexity.update(tf.reduce_sum(cross_entropy * weights), tf.reduce_sum(weights))
    metrics = {
        "split": split,
        "workdir": os.path.abspath(workdir),
        "task": {k: getattr(config.task, k) for k in ("source_text", "target_text")},
        "conditioning": list(config.task.conditioning),
        "strategy": config.generation.strategy.value,
        "num_examples": len(references),
        **text_scores(hypotheses, references),
        "perplexity": perplexity.result(),
        "examples": [
            {"reference": r, "generated": h}
            for r, h in zip(references[:_SHOWN_EXAMPLES], hypotheses[:_SHOWN_EXAMPLES])
        ],
    }
    metrics["baselines"] = generation_baselines(
        config, data, backbone, task, dataset, references, test_sequences
    )
    if heldout and 0 < sum(heldout) < len(heldout):
        mask = np.array(heldout, bool)
        metrics["subsets"] = {
            name: text_scores(
                [h for h, m in zip(hypotheses, mask) if m == want],
                [r for r, m in zip(references, mask) if m == want],
            )
            for name, want in (("seen", False), ("heldout", True))
        }
    log(format_generation_table(metrics))
    _write_json(metrics, json_path, log)
    return metrics


def generation_baselines(config, data, backbone, task, test_dataset, references, test_sequences):
    """What the model must beat, from the train split alone.

    - `nearest_neighbour`: the target text of the train example whose conditioning input (the
      first conditioning modality, else the source text) is nearest in the backbone's
      embedding space, scored like the model's outputs;
    - `ngram_perplexity`: a Kneser-Ney `NGRAM_ORDER`-gram model of the train targets, on the
      same tokens as the decoder's perplexity (unconditional: it never sees the input).
    """
    target = config.task.target_text
    modality = (config.task.conditioning or ("text",))[0]
    embed = backbone.embedding_model(modality)
    train = data.dataset("train", masks=False, training=False)
    train_embeddings, train_targets, train_sequences = [], [], []
    for batch in train:
        train_embeddings.append(embed(_embedding_inputs(task, batch, modality)).numpy())
        train_targets += [_normalize(t.decode("utf-8")) for t in batch[target].numpy()]
        train_sequences += _token_sequences(batch, target)
    test_embeddings = np.concatenate(
        [embed(_embedding_inputs(task, b, modality)).numpy() for b in test_dataset]
    )
    nearest = np.argmax(test_embeddings @ np.concatenate(train_embeddings).T, axis=1)
    language_model = KneserNeyLanguageModel(NGRAM_ORDER, data.vocabulary_size)
    language_model.fit(train_sequences)
    return {
        "nearest_neighbour": {
            "from": modality,
            **text_scores([train_targets[i] for i in nearest], references),
        },
        "ngram_order": NGRAM_ORDER,
        "ngram_perplexity": language_model.perplexity(test_sequences),
    }


def _embedding_inputs(task, batch, modality):
    inputs = task.generator_inputs(batch)
    return {name: inputs[name] for name in ENCODER_INPUTS[modality]}


def _token_sequences(batch, feature):
    """Each row's token ids from the start token to the end token (what the decoder predicts)."""
    ids, mask = (batch[key].numpy() for key in target_keys(feature))
    return [row[m].tolist() for row, m in zip(ids, mask.astype(bool))]


def text_scores(hypotheses, references):
    """BLEU-4, CIDEr-D, exact match, WER and sacrebleu's BLEU/chrF of generated texts."""
    return {
        "bleu4": corpus_bleu(hypotheses, references),
        "cider": cider(hypotheses, references),
        "exact_match": exact_match(hypotheses, references),
        "wer": word_error_rate(hypotheses, references),
        "sacrebleu": sacrebleu_report(hypotheses, references),
    }


def format_generation_table(metrics):
    """The printed summary of `evaluate_generation`'s metrics."""
    lines = [
        f"{metrics['split']} split, {metrics['num_examples']} examples, "
        f"{metrics['strategy']} decoding, conditioned on "
        f"{', '.join(metrics['conditioning'] + ([metrics['task']['source_text']] if metrics['task']['source_text'] else []))}"
        f" → {metrics['task']['target_text']}",
        f"{'subset':10s} {'BLEU-4':>7s} {'CIDEr':>6s} {'chrF':>6s} {'WER':>6s} {'exact':>6s}",
    ]
    rows = [("all", metrics)] + list(metrics.get("subsets", {}).items())
    for name, m in rows:
        lines.append(
            f"{name:10s} {m['bleu4']:7.2f} {m['cider']:6.3f} {m['sacrebleu']['chrf']:6.2f} "
            f"{m['wer']:6.3f} {m['exact_match']:6.3f}"
        )
    b = metrics["baselines"]
    nn = b["nearest_neighbour"]
    lines.append(
        f"{'NN (' + nn['from'] + ')':10s} {nn['bleu4']:7.2f} {nn['cider']:6.3f} "
        f"{nn['sacrebleu']['chrf']:6.2f} {nn['wer']:6.3f} {nn['exact_match']:6.3f}   "
        "← baseline: the nearest train example's text"
    )
    lines.append(
        f"perplexity of the references: decoder {metrics['perplexity']:.3f}, "
        f"{b['ngram_order']}-gram Kneser-Ney (no input) {b['ngram_perplexity']:.3f}"
    )
    lines.append(
        f"sacreBLEU {metrics['sacrebleu']['bleu']:.2f} ({metrics['sacrebleu']['bleu_signature']})"
    )
    for example in metrics["examples"][:3]:
        lines.append(f"  reference: {example['reference']}")
        lines.append(f"  generated: {example['generated']}")
    return "\n".join(lines)


def _normalize(text):
    """What the tokenizer keeps of a reference: lowercase, single spaces."""
    return " ".join(text.lower().split())


def evaluate_classification(config, workdir, split="test", json_path=None, log=print):
    """Accuracy, macro and per-class precision/recall/F1 and the confusion matrix (also as a
    PNG beside the JSON, or in `workdir`) of a fine-tuned classification task on `split`."""
    data = ExperimentData(config)
    task = load_task(config, workdir, data)
    predict = tf.function(lambda batch: tf.argmax(task(batch, training=False), axis=-1))
    labels, predictions = [], []
    for batch in data.dataset(split, masks=False, training=False):
        batch_labels, weights = task.labels(batch)
        keep = weights.numpy() > 0
        labels += list(batch_labels.numpy()[keep])
        predictions += list(predict(batch).numpy()[keep])
    names = data.source.label_names(config.task.label_feature)
    report = classification_report(labels, predictions, config.task.num_classes, names)
    metrics = {
        "split": split,
        "workdir": os.path.abspath(workdir),
        "modality": config.task.modality,
        "label": f"{config.task.label_feature}[{config.task.label_index}]",
        **report,
    }
    plot_path = os.path.splitext(json_path or os.path.join(workdir, "metrics"))[0]
    metrics["confusion_matrix_png"] = _plot_confusion(
        report["confusion_matrix"], names, plot_path + "_confusion.png"
    )
    log(
        f"{split} split, {report['num_examples']} examples, {metrics['label']} from "
        f"{metrics['modality']}: accuracy {report['accuracy']:.4f}, macro F1 "
        f"{report['macro_f1']:.4f} (precision {report['macro_precision']:.4f}, recall "
        f"{report['macro_recall']:.4f})"
    )
    for name, row in report["per_class"].items():
        log(
            f"  {name:14s} P {row['precision']:.3f} R {row['recall']:.3f} F1 {row['f1']:.3f} "
            f"(n={row['support']})"
        )
    _write_json(metrics, json_path, log)
    return metrics


def _plot_confusion(matrix, names, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 5))
    image = axes.imshow(np.array(matrix), cmap="Blues")
    ticks = range(len(matrix))
    axes.set_xticks(ticks, names or list(ticks), rotation=45, ha="right")
    axes.set_yticks(ticks, names or list(ticks))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", fontsize=7)
    figure.colorbar(image)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def _write_json(metrics, json_path, log):
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, ensure_ascii=False)
        log(f"metrics written to {json_path}")
