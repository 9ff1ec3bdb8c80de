"""`evaluate_generation`: decode every example of a split, score it, and score two baselines."""

import os

import numpy as np

from mmlm.backend import tf
from mmlm.evaluation.ngram import KneserNeyLanguageModel
from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.evaluation.retrieval import derangement
from mmlm.evaluation.rouge import lead_sentence, rouge
from mmlm.evaluation.text_metrics import (
    cider,
    corpus_bleu,
    exact_match,
    sacrebleu_report,
    word_error_rate,
)
from mmlm.experiments.artifacts import load_backbone, write_json
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.generate import generator_for
from mmlm.models.multimodal_backbone import ENCODER_INPUTS
from mmlm.tasks.builders import build_generation_task
from mmlm.tasks.generation_task import target_keys

_SHOWN_EXAMPLES = 8
NGRAM_ORDER = 4


def evaluate_generation(config, workdir, split="test", json_path=None, log=print):
    """Generates the target text of every `split` example and scores it.

    Metrics: corpus BLEU-4 (keras-nlp, 0-100), CIDEr-D, exact match, word error rate,
    sacrebleu's BLEU and chrF with their signatures, the decoder's teacher-forced perplexity
    of the references; the same for the seen and held-out subsets when the data has them, and
    per question kind (`q:colour`, ...) for question answering; beside them the baselines
    (`generation_baselines`) and the control `baselines.shuffled_references`
    (`shuffled_references`).

    Returns:
        The metrics dict (also written to `json_path` and printed).
    """
    data = ExperimentData(config, workdir)
    backbone = load_backbone(workdir)
    text_preprocessor = data.text_preprocessor()
    task = build_generation_task(config, backbone)
    generator = generator_for(config, backbone, text_preprocessor)
    generate = tf.function(
        lambda inputs: generator(inputs)["token_ids"], jit_compile=config.generation.jit_compile
    )
    target = config.task.target_text
    hypotheses, references, heldout, question_kinds = [], [], [], []
    perplexity = PerplexityAccumulator()
    dataset = data.dataset(split, masks=False, training=False)
    if config.task.eval_examples:
        dataset = (
            dataset.unbatch().take(config.task.eval_examples).batch(config.data.global_batch_size)
        )
    # What the baselines need of the test split, gathered in the same pass.
    baseline_modality = (config.task.conditioning or ("text",))[0]
    embed = backbone.embedding_model(baseline_modality)
    test_sequences, test_embeddings, test_sources = [], [], []
    source = config.task.source_text
    for batch in dataset:
        if source:
            test_sources += [t.decode("utf-8") for t in batch[source].numpy()]
        test_sequences += _token_sequences(batch, target)
        test_embeddings.append(embed(_embedding_inputs(task, batch, baseline_modality)).numpy())
        token_ids = generate(task.generator_inputs(batch))
        hypotheses += [t.decode("utf-8") for t in text_preprocessor.detokenize(token_ids).numpy()]
        references += _as_written(text_preprocessor, batch[target])
        if "heldout" in batch:
            heldout += list(batch["heldout"].numpy())
        if target == "answer" and "question_kind" in batch:
            question_kinds += list(batch["question_kind"].numpy())
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
        config,
        data,
        task,
        embed,
        text_preprocessor,
        np.concatenate(test_embeddings),
        references,
        test_sequences,
        test_sources,
    )
    if len(references) >= 2:
        metrics["baselines"]["shuffled_references"] = shuffled_references(hypotheses, references)
    subsets = {}
    if heldout and 0 < sum(heldout) < len(heldout):
        subsets.update({"seen": np.logical_not(heldout), "heldout": np.array(heldout, bool)})
    if question_kinds:
        names = data.source.label_names("question_kind")
        subsets.update(
            {f"q:{names[k]}": np.equal(question_kinds, k) for k in sorted(set(question_kinds))}
        )
    if subsets:
        metrics["subsets"] = {
            name: text_scores(
                [h for h, m in zip(hypotheses, mask) if m],
                [r for r, m in zip(references, mask) if m],
            )
            for name, mask in subsets.items()
        }
    log(format_generation_table(metrics))
    write_json(metrics, json_path, log)
    return metrics


def generation_baselines(
    config,
    data,
    task,
    embed,
    text_preprocessor,
    test_embeddings,
    references,
    test_sequences,
    test_sources=(),
):
    """What the model must beat, from the train split alone.

    - `nearest_neighbour`: the target text of the train example whose conditioning input (the
      first conditioning modality, else the source text) is nearest in the backbone's
      embedding space (`embed`, which gave `test_embeddings`), scored like the model's outputs;
    - `translation_memory` (tasks with a source text, given `test_sources`): the target text of
      the train example whose source text is most similar by TF-IDF over character 2-4-grams,
      independent of the model (what a translation memory proposes);
    - `lead_sentence` (tasks with a source text): the source text's first sentence, as is
      (the lead baseline of summarization; for translation, copying the source);
    - `ngram_perplexity`: a Kneser-Ney `NGRAM_ORDER`-gram model of the train targets, on the
      same tokens as the decoder's perplexity (unconditional: it never sees the input).
    """
    target = config.task.target_text
    modality = (config.task.conditioning or ("text",))[0]
    train = data.dataset("train", masks=False, training=False)
    train_embeddings, train_targets, train_sequences, train_sources = [], [], [], []
    for batch in train:
        if len(test_sources):
            train_sources += [t.decode("utf-8") for t in batch[config.task.source_text].numpy()]
        train_embeddings.append(embed(_embedding_inputs(task, batch, modality)).numpy())
        train_targets += _as_written(text_preprocessor, batch[target])
        train_sequences += _token_sequences(batch, target)
    nearest = np.argmax(test_embeddings @ np.concatenate(train_embeddings).T, axis=1)
    language_model = KneserNeyLanguageModel(NGRAM_ORDER, data.vocabulary_size)
    language_model.fit(train_sequences)
    baselines = {
        "nearest_neighbour": {
            "from": modality,
            **text_scores([train_targets[i] for i in nearest], references),
        },
        "ngram_order": NGRAM_ORDER,
        "ngram_perplexity": language_model.perplexity(test_sequences),
    }
    if len(test_sources):
        memory = nearest_by_characters(train_sources, test_sources)
        baselines["translation_memory"] = {
            "from": config.task.source_text,
            **text_scores([train_targets[i] for i in memory], references),
        }
        baselines["lead_sentence"] = {
            "from": config.task.source_text,
            **text_scores([lead_sentence(t) for t in test_sources], references),
        }
    return baselines


def shuffled_references(hypotheses, references, seed=0):
    """The control of the generated texts: their scores against other examples' references.

    The references are permuted by a derangement (no text keeps its own), so the scores are
    what the outputs earn without their inputs' pairing (above 0 where references repeat).
    Needs at least 2 references.
    """
    order = derangement(len(references), seed)
    return {"from": "model", **text_scores(hypotheses, [references[i] for i in order])}


def nearest_by_characters(corpus, queries):
    """Index of the `corpus` text most similar to each query (TF-IDF of character 2-4-grams,
    cosine similarity; scikit-learn)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    corpus_vectors = vectorizer.fit_transform(corpus)
    query_vectors = vectorizer.transform(queries)
    return np.asarray((query_vectors @ corpus_vectors.T).argmax(axis=1)).ravel()


def _embedding_inputs(task, batch, modality):
    inputs = task.generator_inputs(batch)
    return {name: inputs[name] for name in ENCODER_INPUTS[modality]}


def _token_sequences(batch, feature):
    """Each row's token ids from the start token to the end token (what the decoder predicts)."""
    ids, mask = (batch[key].numpy() for key in target_keys(feature))
    return [row[m].tolist() for row, m in zip(ids, mask.astype(bool))]


def text_scores(hypotheses, references):
    """BLEU-4, CIDEr-D, exact match, WER, sacrebleu's BLEU/chrF and ROUGE-1/2/L F-measure
    (0-100) of generated texts."""
    return {
        "bleu4": corpus_bleu(hypotheses, references),
        "cider": cider(hypotheses, references),
        "exact_match": exact_match(hypotheses, references),
        "wer": word_error_rate(hypotheses, references),
        "sacrebleu": sacrebleu_report(hypotheses, references),
        "rouge": rouge(hypotheses, references),
    }


def format_generation_table(metrics):
    """The printed summary of `evaluate_generation`'s metrics."""
    inputs = metrics["conditioning"] + [metrics["task"]["source_text"]]
    lines = [
        f"{metrics['split']} split, {metrics['num_examples']} examples, "
        f"{metrics['strategy']} decoding, conditioned on {', '.join(i for i in inputs if i)} "
        f"→ {metrics['task']['target_text']}",
        f"{'subset':10s} {'BLEU-4':>7s} {'CIDEr':>6s} {'chrF':>6s} {'WER':>6s} {'exact':>6s}",
    ]
    rows = [("all", metrics)] + list(metrics.get("subsets", {}).items())
    for name, m in rows:
        lines.append(
            f"{name:10s} {m['bleu4']:7.2f} {m['cider']:6.3f} {m['sacrebleu']['chrf']:6.2f} "
            f"{m['wer']:6.3f} {m['exact_match']:6.3f}"
        )
    b = metrics["baselines"]
    notes = {
        "nearest_neighbour": ("NN", "the nearest train example's text"),
        "translation_memory": ("TM", "the train target of the most similar source text"),
        "lead_sentence": ("lead", "the source's first sentence"),
        "shuffled_references": ("shuffled", "the outputs scored against other references"),
    }
    for key, (short, note) in notes.items():
        if key in b:
            m = b[key]
            lines.append(
                f"{short + ' (' + m['from'] + ')':10s} {m['bleu4']:7.2f} {m['cider']:6.3f} "
                f"{m['sacrebleu']['chrf']:6.2f} {m['wer']:6.3f} {m['exact_match']:6.3f}   "
                f"← baseline: {note}"
            )
    for name, m in [("model", metrics)] + [(k, b[k]) for k in notes if k in b]:
        r = m["rouge"]
        lines.append(
            f"ROUGE-1/2/L F {name:18s} {r['rouge1']:6.2f} {r['rouge2']:6.2f} {r['rougeL']:6.2f}"
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


def _as_written(text_preprocessor, texts):
    """Reference strings in the form generated texts take (`TextPreprocessor.round_trip`)."""
    return [t.decode("utf-8") for t in text_preprocessor.round_trip(texts).numpy()]
