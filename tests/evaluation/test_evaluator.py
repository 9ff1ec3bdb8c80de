"""Tests for `evaluate_backbone`: collector reuse, captions, zero-shot from labels and a
source's attributes on a tiny backbone."""

import numpy as np

from mmlm.backend import tf
from mmlm.evaluation.backbone_zero_shot import LabelZeroShot
from mmlm.evaluation.evaluator import EmbeddingCollector, evaluate_backbone, retrieval_by_label
from mmlm.evaluation.label_zero_shot import ZeroShotInputError
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch, tiny_preprocessors

LABELS = [b"w1", b"w2", b"w1", b"", b"w3", b"w1"]
CAPTIONS = [b"w5 w6", b"w7", b"w5 w6", b"w8", b"w7", b"w9"]


def _dataset(extra=None):
    """Two batches of different sizes (a full one and the last, partial one)."""
    batches = [tiny_batch(batch_size=4, seed=0), tiny_batch(batch_size=2, seed=1)]
    features = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    features.update(extra or {})
    return tf.data.Dataset.from_tensor_slices(features).batch(4)


class FakeSource:
    """A source with one attribute: the parity of `index`, scored on even-numbered rows."""

    attribute_label_features = ("index",)

    def attribute_prompts(self):
        return {"parity": (["even", "odd"], [["w10", "w11"], ["w12", "w13"]])}

    def attribute_labels(self, labels):
        index = labels["index"]
        return {"parity": (index % 2, index < 4)}


class EvaluateBackboneTest(TestCase):
    def test_retrieval_by_label_ranks_each_class_among_all_candidates(self):
        rng = np.random.default_rng(0)
        text, image = rng.normal(size=(2, 6, 4))
        collected = {"embeddings": {"text": text, "image": image},
                     "present": {"text": np.ones(6, bool), "image": np.ones(6, bool)}}  # fmt: skip
        labels = ["a", "b", "a", "", "b", "a"]
        report = retrieval_by_label(collected, labels, ks=(1, 2))["text_to_image"]
        self.assertEqual(sorted(report), ["a", "b"])  # the unlabelled row is no class
        for name in ("a", "b"):
            rows = [i for i, label in enumerate(labels) if label == name]
            ranks = [int(np.sum(text[i] @ image.T > text[i] @ image[i])) for i in rows]
            self.assertEqual(report[name]["num_queries"], len(rows))
            for k in (1, 2):
                self.assertAllClose(report[name][f"R@{k}"], np.mean(np.array(ranks) < k))

    def test_a_reused_collector_traces_once_and_gives_the_same_metrics(self):
        backbone = tiny_backbone()
        collector = EmbeddingCollector(backbone)
        first = evaluate_backbone(backbone, _dataset(), collector=collector)
        traces = collector._step.experimental_get_tracing_count()
        self.assertEqual(traces, 2)  # the full batch and the partial one
        second = evaluate_backbone(backbone, _dataset(), collector=collector)
        self.assertEqual(collector._step.experimental_get_tracing_count(), traces)
        fresh = evaluate_backbone(backbone, _dataset())
        self.assertEqual(first["num_examples"], 6)
        for metrics in (second, fresh):
            self.assertEqual(metrics["retrieval"], first["retrieval"])
            self.assertAllClose(metrics["perplexity"], first["perplexity"], rtol=1e-6)

    def test_per_language_queries_with_another_text_feature(self):
        backbone = tiny_backbone()
        base = _dataset()
        rows = next(iter(base.unbatch().batch(6)))
        same = {"text_es_token_ids": rows["token_ids"].numpy(),
                "text_es_padding_mask": rows["padding_mask"].numpy()}  # fmt: skip
        metrics = evaluate_backbone(backbone, _dataset(same), languages={"text_es": "es"})
        self.assertEqual(sorted(metrics["per_language"]), ["es"])
        for direction, row in metrics["per_language"]["es"].items():
            self.assertIn("text", direction.split("_to_"))
            expected = {k: v for k, v in metrics["retrieval"][direction].items() if k != "control"}
            self.assertEqual(row, expected)  # the same texts: the same numbers
        # Other texts (the rows' tokens in reverse order): R@1 from an independent ranking.
        other = {key: value[::-1].copy() for key, value in same.items()}
        metrics = evaluate_backbone(backbone, _dataset(other), languages={"text_es": "es"})
        queries = backbone.embed(
            "text", {"token_ids": other["text_es_token_ids"],
                     "padding_mask": other["text_es_padding_mask"]}).numpy()  # fmt: skip
        images = backbone.embed("image", {"images": rows["images"]}).numpy()
        scores = queries @ images.T
        ranks = (scores > np.diag(scores)[:, None]).sum(axis=1)
        self.assertAllClose(
            metrics["per_language"]["es"]["text_to_image"]["R@1"], np.mean(ranks < 1)
        )
        # A feature the batches do not carry is skipped, not an error.
        self.assertNotIn(
            "per_language", evaluate_backbone(backbone, base, languages={"text_es": "es"})
        )

    def test_a_collector_of_another_backbone_is_refused(self):
        with self.assertRaisesRegex(ValueError, "another backbone"):
            evaluate_backbone(
                tiny_backbone(), _dataset(), collector=EmbeddingCollector(tiny_backbone())
            )

    def test_captions_labels_and_attributes(self):
        backbone = tiny_backbone()
        dataset = _dataset(
            {"text": np.array(CAPTIONS), "label": np.array(LABELS), "index": np.arange(6)}
        )
        labels = LabelZeroShot("label", ("{}", "w4 {}"), class_names=("w1", "w2", "w4"))
        metrics = evaluate_backbone(
            backbone,
            dataset,
            tiny_preprocessors()["text_preprocessor"],
            labels=labels,
            source=FakeSource(),
            ks=(1, 3),
        )
        self.assertEqual(metrics["captions"], {"num_with_caption": 6, "num_distinct": 4})
        text_to_image = metrics["retrieval"]["text_to_image"]
        self.assertEqual(set(text_to_image["duplicate_aware"]), {"R@1", "R@3", "median_rank"})
        self.assertAllClose(text_to_image["strict_R@1_ceiling"], (4 * 0.5 + 2) / 6)
        self.assertEqual(set(text_to_image["control"]), {"chance", "shuffled"})

        zero_shot = metrics["zero_shot"]
        self.assertEqual(
            set(zero_shot),
            {"label_from_image", "label_from_audio", "parity_from_image", "parity_from_audio"},
        )
        from_image = zero_shot["label_from_image"]
        self.assertEqual(from_image["num_examples"], 4)  # 3 x w1, 1 x w2
        self.assertEqual(from_image["num_unscored"], {"unlabelled": 1, "unlisted": {"w3": 1}})
        self.assertEqual(from_image["class_names"], ["w1", "w2", "w4"])
        self.assertAllClose(from_image["majority_baseline"], 0.75)
        self.assertEqual(np.sum(from_image["confusion_matrix"]), 4)
        self.assertEqual(zero_shot["parity_from_image"]["num_examples"], 4)
        self.assertEqual(len(metrics["warnings"]), 3)  # absent w4, unlisted w3, unlabelled

    def test_a_missing_label_feature_names_the_batch_features(self):
        labels = LabelZeroShot("species", ("{}",))
        with self.assertRaisesRegex(ZeroShotInputError, "no label feature 'species'.*token_ids"):
            evaluate_backbone(
                tiny_backbone(),
                _dataset(),
                tiny_preprocessors()["text_preprocessor"],
                labels=labels,
            )
