"""`Batcher` on a fake signature: how requests are grouped, split back and retried."""

import asyncio
import concurrent.futures

import numpy as np

from mmlm.serving.batching import Batcher
from mmlm.serving.predict import PredictRequest
from mmlm.testing import TestCase


class FakeSignature:
    """Doubles its input `x`; records the rows of every call; fails on negative values."""

    name = "double"
    inputs = {"x": None}
    batchable = True

    def __init__(self):
        self.calls = []

    def __call__(self, inputs):
        self.calls.append(len(inputs["x"]))
        if np.any(inputs["x"] < 0):
            raise ValueError("negative input")
        return {"y": 2 * inputs["x"]}


def _run(batcher, signature, rows_per_request, delays=None):
    """Submits one request per entry of `rows_per_request` (each after its delay in seconds);
    returns the outputs or exceptions, in order."""

    async def submit(index, rows):
        await asyncio.sleep((delays or [0] * len(rows_per_request))[index])
        # Request i holds 10 i, 10 i + 1, ...; a negative row count makes one failing row.
        x = np.full(1, -1.0) if rows < 0 else np.arange(rows) + 10.0 * index
        request = PredictRequest(signature=signature, inputs={"x": x}, row_format=True)
        return await batcher.predict(request)

    async def main():
        tasks = [submit(i, rows) for i, rows in enumerate(rows_per_request)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(main())


class BatcherTest(TestCase):
    def setUp(self):
        super().setUp()
        self.executor = concurrent.futures.ThreadPoolExecutor(2)
        self.signature = FakeSignature()

    def tearDown(self):
        self.executor.shutdown()
        super().tearDown()

    def test_merges_up_to_max_batch_size_and_splits_back(self):
        batcher = Batcher(self.executor, max_batch_size=4, timeout_ms=50)
        results = _run(batcher, self.signature, [1, 2, 1, 3, 1])
        # 1 + 2 + 1 fill a batch at once; 3 + 1 wait for the timeout.
        self.assertEqual([4, 4], self.signature.calls)
        for index, (rows, result) in enumerate(zip([1, 2, 1, 3, 1], results)):
            self.assertAllEqual(2 * (np.arange(rows) + 10 * index), result["y"])
        self.assertEqual({3: 1, 2: 1}, dict(batcher.stats.batch_sizes))  # requests per call

    def test_larger_than_max_runs_alone_and_batching_off_never_merges(self):
        _run(Batcher(self.executor, max_batch_size=4, timeout_ms=50), self.signature, [6, 1])
        self.assertEqual([6, 1], self.signature.calls)
        self.signature.calls.clear()
        _run(Batcher(self.executor, max_batch_size=1), self.signature, [1, 1, 2])
        self.assertEqual([1, 1, 2], sorted(self.signature.calls))

    def test_timeout_closes_a_partial_batch(self):
        batcher = Batcher(self.executor, max_batch_size=8, timeout_ms=20)
        _run(batcher, self.signature, [1, 1, 1], delays=[0, 0.005, 0.2])
        self.assertEqual([2, 1], self.signature.calls)

    def test_a_failing_request_does_not_fail_its_batch(self):
        batcher = Batcher(self.executor, max_batch_size=3, timeout_ms=50)
        results = _run(batcher, self.signature, [1, -1, 1])
        self.assertIsInstance(results[1], ValueError)
        self.assertAllEqual([0], results[0]["y"])
        self.assertAllEqual([40], results[2]["y"])
        self.assertEqual(1, batcher.stats.retried_batches)
        self.assertEqual([3, 1, 1, 1], sorted(self.signature.calls, reverse=True))
