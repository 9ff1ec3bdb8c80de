"""`evaluate_language_model`: a text-only pretraining run's held-out perplexity and masked-token
accuracy, beside n-gram and unigram baselines fitted on the same training tokens."""

import collections
import math
import os

import numpy as np

from mmlm.evaluation.ngram import KneserNeyLanguageModel
from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.experiments.artifacts import load_backbone, model_dir, write_json
from mmlm.experiments.data import ExperimentData
from mmlm.objectives.captioning import token_cross_entropy
from mmlm.tasks.generation_task import target_keys
from mmlm.tasks.pretraining_task import PretrainingTask, captioning_inputs, captioning_targets

NGRAM_ORDERS = (1, 2, 3, 4)
_SPECIAL = ("[PAD]", "[START]", "[END]", "[UNK]", "[MASK]")


def evaluate_language_model(config, workdir, split="test", json_path=None, log=print):
    """Scores the language model(s) of a text-only pretraining run on `split`.

    - causal (`objective.captioning_weight` > 0): the decoder's perplexity of every token after
      the start token (end token included), against interpolated Kneser-Ney n-grams of orders
      `NGRAM_ORDERS` fitted on the training split's token ids (the same tokens);
    - masked (`objective.masked_lm_weight` > 0): cross-entropy, perplexity and accuracy at the
      masked positions (the pipeline's seeded masks), against the training unigram
      distribution (add-one) and its most frequent token, and a Kneser-Ney 4-gram that reads
      the unmasked left context (more than the model sees where masks are adjacent).

    Returns:
        The metrics dict (also written to `json_path` and printed).
    """
    data = ExperimentData(config, workdir)
    train = [s for b in data.dataset("train", masks=False, training=False) for s in _rows(b)]
    metrics = {"split": split, "workdir": os.path.abspath(workdir)}
    if config.objective.captioning_weight:
        metrics["causal_lm"] = _causal(data, workdir, split, train)
    if config.objective.masked_lm_weight:
        metrics["masked_lm"] = _masked(data, workdir, split, train)
    if len(metrics) == 2:
        raise ValueError("the run trains neither a causal nor a masked language model")
    log(format_language_model_table(metrics))
    write_json(metrics, json_path, log)
    return metrics


def _rows(batch):
    """Each row's token ids from the start token to the end token."""
    ids, mask = (batch[key].numpy() for key in target_keys("text"))
    return [row[m].tolist() for row, m in zip(ids, mask.astype(bool))]


def _causal(data, workdir, split, train):
    backbone = load_backbone(workdir)
    accumulator, test = PerplexityAccumulator(), []
    for batch in data.dataset(split, masks=False, training=False):
        logits = backbone(captioning_inputs(batch, ("text",)), training=False)["decoder_logits"]
        labels, weights = captioning_targets(batch, ("text",))
        accumulator.update(*(t.numpy() for t in token_cross_entropy(logits, labels, weights)))
        test += _rows(batch)
    baselines = {}
    for order in NGRAM_ORDERS:
        model = KneserNeyLanguageModel(order, data.vocabulary_size).fit(train)
        baselines[f"kneser_ney_{order}gram"] = model.perplexity(test)
    return {
        "num_sequences": len(test),
        "num_tokens": accumulator.total_tokens,
        "perplexity": accumulator.result(),
        "baselines": baselines,
    }


def _masked(data, workdir, split, train):
    task = PretrainingTask.from_preset(model_dir(workdir))
    counts = collections.Counter(t for row in train for t in row[1:])
    special = {data.vocabulary.index(t) for t in _SPECIAL if t in data.vocabulary}
    total = sum(counts.values()) + data.vocabulary_size  # add-one smoothing
    most_frequent = max((t for t in counts if t not in special), key=counts.get)
    ngram = KneserNeyLanguageModel(4, data.vocabulary_size).fit(train)
    model, unigram, left = PerplexityAccumulator(), PerplexityAccumulator(), 0.0
    hits = baseline_hits = 0
    for batch in data.dataset(split, masks=True, training=False):
        logits = task.heads["masked_lm"](
            task.backbone.text_encoder(
                {"token_ids": batch["masked_token_ids"], "padding_mask": batch["padding_mask"]}
            )["sequence_output"],
            mask_positions=batch["mask_positions"],
        )
        ids, weights = batch["mask_ids"].numpy(), batch["mask_weights"].numpy() > 0
        model.update(*(t.numpy() for t in token_cross_entropy(logits, ids, weights)))
        hits += int(np.sum((np.argmax(logits.numpy(), -1) == ids) & weights))
        tokens = ids[weights]
        baseline_hits += int(np.sum(tokens == most_frequent))
        unigram.update(-sum(math.log((counts[t] + 1) / total) for t in tokens), len(tokens))
        originals, positions = batch["token_ids"].numpy(), batch["mask_positions"].numpy()
        for row, position in zip(*np.nonzero(weights)):
            context = originals[row, : positions[row, position]].tolist()
            left -= math.log(ngram.probability(int(ids[row, position]), context))
    n = model.total_tokens
    return {
        "num_masked": n,
        "accuracy": hits / n,
        "cross_entropy": model.mean_cross_entropy(),
        "perplexity": model.result(),
        "baselines": {
            "unigram": {"accuracy": baseline_hits / n, "perplexity": unigram.result()},
            "kneser_ney_4gram_left_context": {"perplexity": math.exp(left / n)},
        },
    }


def format_language_model_table(metrics):
    """The printed summary of `evaluate_language_model`'s metrics."""
    lines = [f"{metrics['split']} split"]
    if "causal_lm" in metrics:
        c = metrics["causal_lm"]
        lines.append(
            f"causal LM: {c['num_sequences']} texts, {c['num_tokens']} tokens, perplexity "
            f"{c['perplexity']:.2f}"
        )
        for name, value in c["baselines"].items():
            lines.append(f"  baseline {name:30s} perplexity {value:.2f}")
    if "masked_lm" in metrics:
        m = metrics["masked_lm"]
        lines.append(
            f"masked LM: {m['num_masked']} masked tokens, accuracy {m['accuracy']:.4f}, "
            f"perplexity {m['perplexity']:.2f}"
        )
        for name, values in m["baselines"].items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
            lines.append(f"  baseline {name:30s} {shown}")
    return "\n".join(lines)
