"""Tests for `evaluate_backbone`: a reused collector traces its step once, same metrics."""

import numpy as np

from mmlm.backend import tf
from mmlm.evaluation.evaluator import EmbeddingCollector, evaluate_backbone
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch


def _dataset():
    """Two batches of different sizes (a full one and the last, partial one)."""
    batches = [tiny_batch(batch_size=4, seed=0), tiny_batch(batch_size=2, seed=1)]
    return tf.data.Dataset.from_tensor_slices(
        {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    ).batch(4)


class EvaluateBackboneTest(TestCase):
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

    def test_a_collector_of_another_backbone_is_refused(self):
        with self.assertRaisesRegex(ValueError, "another backbone"):
            evaluate_backbone(
                tiny_backbone(), _dataset(), collector=EmbeddingCollector(tiny_backbone())
            )
