"""Server-side batching: concurrent predict requests merged into one call of the model.

Requests for the same signature whose inputs agree in everything but the batch size (dtype and
the non-batch dimensions) wait at most `timeout_ms` after the first of them arrived for others
to join, then run as one call of up to `max_batch_size` rows (a batch is closed early when it is
full), as TensorFlow Serving's batching does. The call runs in a worker thread so the event loop
keeps accepting requests meanwhile; its outputs are split back per request.

If a merged call fails, its requests are run again one at a time, so that one bad request (an
undecodable image, say) gets the error and the others their results.
"""

import asyncio
import collections
import dataclasses

import numpy as np


@dataclasses.dataclass
class BatchingStats:
    """What the batcher did, for tests and monitoring.

    Attributes:
        calls: calls of the model (merged calls count once, retries each).
        requests: requests run (a request of a retried batch counts again).
        batch_sizes: number of requests per call -> how many calls had that many.
        retried_batches: merged calls that failed and were retried one request at a time.
    """

    calls: int = 0
    requests: int = 0
    batch_sizes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    retried_batches: int = 0


@dataclasses.dataclass
class _Item:
    """One waiting request."""

    inputs: dict
    rows: int
    future: asyncio.Future
    arrival: float


@dataclasses.dataclass
class _Queue:
    """The requests waiting for one batch key."""

    signature: object
    items: list
    timer: asyncio.TimerHandle = None


class Batcher:
    """Runs predict requests on a thread pool, merging concurrent ones into batches.

    Args:
        executor: a `concurrent.futures.Executor` (threads) that runs the model calls.
        max_batch_size: rows of one merged call at most; 1 disables batching (every request
            runs on its own; a request larger than this also runs on its own).
        timeout_ms: how long the first request of a batch waits for others to join.

    Example:
        batcher = Batcher(ThreadPoolExecutor(2), max_batch_size=16, timeout_ms=5)
        outputs = await batcher.predict(request)  # a `PredictRequest`
    """

    def __init__(self, executor, max_batch_size=16, timeout_ms=5.0):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.timeout_ms = timeout_ms
        self.stats = BatchingStats()
        self._queues = {}
        self._running = set()  # the batch tasks, referenced until they finish

    async def predict(self, request, model_key=None):
        """The outputs ({name: array}) of `request`, run alone or as part of a batch.

        Args:
            request: a `PredictRequest`.
            model_key: what tells the served models (and versions) apart: only requests with
                equal keys are merged, so that version 1's and version 2's `embed_text` never
                share a call.

        Raises:
            Whatever the model call raised for this request.
        """
        if self.max_batch_size == 1 or not request.signature.batchable:
            return await self._call(request.signature, request.inputs, requests=1)
        loop = asyncio.get_running_loop()
        item = _Item(request.inputs, request.rows, loop.create_future(), loop.time())
        key = (model_key, request.batch_key)
        queue = self._queues.setdefault(key, _Queue(request.signature, []))
        queue.items.append(item)
        if sum(i.rows for i in queue.items) >= self.max_batch_size:
            self._flush(key)
        elif queue.timer is None:
            queue.timer = loop.call_later(self.timeout_ms / 1e3, self._flush, key)
        return await item.future

    def close(self):
        """Cancels the waiting requests (on shutdown)."""
        for queue in self._queues.values():
            if queue.timer is not None:
                queue.timer.cancel()
            for item in queue.items:
                item.future.cancel()
        self._queues.clear()

    def _flush(self, key):
        """Starts the full batches of `key`'s queue, and the rest if its timeout has passed."""
        queue = self._queues.pop(key, None)
        if queue is None:  # already flushed by a full batch
            return
        if queue.timer is not None:
            queue.timer.cancel()
        loop = asyncio.get_running_loop()
        items = queue.items
        while items:
            batch, items = self._take(items)
            self._start(queue.signature, batch)
            if sum(i.rows for i in items) < self.max_batch_size:
                break
        if items:  # too few rows for a full batch: they wait for the rest of their timeout
            delay = max(0.0, items[0].arrival + self.timeout_ms / 1e3 - loop.time())
            timer = loop.call_later(delay, self._flush, key)
            self._queues[key] = _Queue(queue.signature, items, timer)

    def _take(self, items):
        """(the first requests that fit in one batch (at least one), the others)."""
        rows, count = items[0].rows, 1
        while count < len(items) and rows + items[count].rows <= self.max_batch_size:
            rows += items[count].rows
            count += 1
        return items[:count], items[count:]

    def _start(self, signature, batch):
        task = asyncio.ensure_future(self._run_batch(signature, batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run_batch(self, signature, batch):
        if len(batch) == 1:
            await self._answer(signature, batch[0])
            return
        inputs = {
            name: np.concatenate([item.inputs[name] for item in batch]) for name in signature.inputs
        }
        try:
            outputs = await self._call(signature, inputs, requests=len(batch))
            results = _split(outputs, [item.rows for item in batch])
        except Exception:  # noqa: BLE001  (one bad request must not fail the others)
            self.stats.retried_batches += 1
            await asyncio.gather(*(self._answer(signature, item) for item in batch))
            return
        for item, result in zip(batch, results):
            if not item.future.done():  # a client that went away cancels its future
                item.future.set_result(result)

    async def _answer(self, signature, item):
        try:
            result = await self._call(signature, item.inputs, requests=1)
        except Exception as error:  # noqa: BLE001  (handed to the waiting request)
            if not item.future.done():
                item.future.set_exception(error)
        else:
            if not item.future.done():
                item.future.set_result(result)

    async def _call(self, signature, inputs, requests):
        self.stats.calls += 1
        self.stats.requests += requests
        self.stats.batch_sizes[requests] += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, signature, inputs)


def _split(outputs, rows):
    """[{name: the rows of one request}] of batched `outputs`."""
    total = sum(rows)
    for name, value in outputs.items():
        if np.ndim(value) == 0 or len(value) != total:
            raise ValueError(f"output '{name}' has shape {np.shape(value)} for a batch of {total}")
    bounds = np.cumsum([0] + rows)
    return [
        {name: value[start:end] for name, value in outputs.items()}
        for start, end in zip(bounds[:-1], bounds[1:])
    ]
