"""Server-side batching, as TensorFlow Serving does it: concurrent requests for the same
signature are stacked into one model call of at most `max_batch_size` rows.

The batcher never waits while idle: a request arriving at an idle model runs at once, alone.
Requests that arrive while the model is busy queue up and run together next. With
`batch_timeout_micros` > 0 it also waits up to that long for a batch to fill.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from runyard.serving.tf_model import BadRequest, Signature


@dataclass
class _Pending:
    inputs: dict
    rows: int
    key: tuple  # requests with equal keys (the shapes past the batch dimension) can be stacked
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    def __init__(self, signature: Signature, max_batch_size: int, batch_timeout_micros: int,
                 executor: ThreadPoolExecutor):
        self.signature = signature
        self.max_rows = max_batch_size
        self.timeout = batch_timeout_micros / 1e6
        self.executor = executor
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.held: collections.deque[_Pending] = collections.deque()  # did not fit the last batch
        self.task: asyncio.Task | None = None
        self.batches = self.batched_rows = 0

    async def predict(self, inputs: dict, rows: int) -> dict:
        if self.task is None:
            self.task = asyncio.create_task(self._loop())
        key = tuple((k, v.shape[1:], v.dtype.str) for k, v in sorted(inputs.items()))
        pending = _Pending(inputs, rows, key)
        self.queue.put_nowait(pending)
        return await pending.future

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _next(self, deadline: float | None) -> _Pending | None:
        if self.held:
            return self.held.popleft()
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            if deadline is None:
                return await self.queue.get()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                return await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                return None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            batch, rows = [first], first.rows
            deadline = time.monotonic() + self.timeout
            skipped = []
            while rows < self.max_rows:
                item = await self._next(deadline)
                if item is None:
                    break
                if item.key != first.key or rows + item.rows > self.max_rows:
                    skipped.append(item)
                    if len(skipped) > 2 * self.max_rows:
                        break
                    continue
                batch.append(item)
                rows += item.rows
            self.held.extend(skipped)
            await self._run(loop, batch)

    async def _run(self, loop, batch: list[_Pending]) -> None:
        self.batches += 1
        self.batched_rows += sum(p.rows for p in batch)
        try:
            if len(batch) == 1:
                inputs = batch[0].inputs
            else:
                inputs = {k: np.concatenate([p.inputs[k] for p in batch]) for k in batch[0].inputs}
            outputs = await loop.run_in_executor(self.executor, self.signature.predict, inputs)
        except BadRequest as exc:
            if len(batch) == 1:
                _settle(batch[0], exc=exc)
            else:  # one bad request must not fail the others: run each alone
                for pending in batch:
                    await self._run(loop, [pending])
            return
        except Exception as exc:  # noqa: BLE001  these requests fail, the batcher goes on
            for pending in batch:
                _settle(pending, exc=exc)
            return
        total = sum(p.rows for p in batch)
        if len(batch) > 1 and any(v.ndim == 0 or v.shape[0] != total for v in outputs.values()):
            for pending in batch:  # outputs without a row per input row cannot be split
                await self._run(loop, [pending])
            return
        start = 0
        for pending in batch:
            end = start + pending.rows
            _settle(pending, {k: v[start:end] for k, v in outputs.items()})
            start = end


def _settle(pending: _Pending, result=None, exc: BaseException | None = None) -> None:
    if pending.future.done():  # the client went away
        return
    if exc is not None:
        pending.future.set_exception(exc)
    else:
        pending.future.set_result(result)
