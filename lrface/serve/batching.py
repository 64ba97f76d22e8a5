"""Micro-batching: identify requests that arrive while the model is busy are embedded and searched
together in one ONNX Runtime call (no timer: a batch is whatever waited for the previous one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class MicroBatcher:
    """``await submit(item)`` -> ``fn(items)[i]``; ``fn`` runs on one worker thread (ONNX Runtime and numpy
    release the GIL, so the event loop keeps parsing requests meanwhile)."""

    def __init__(self, fn: Callable[[list], list], max_batch: int = 64):
        self.fn, self.max_batch = fn, max_batch
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="lrface-batch")
        self.pending: list[tuple[object, asyncio.Future]] = []
        self.running = False

    async def submit(self, item):
        future = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
                try:
                    results = await loop.run_in_executor(self.pool, self.fn, [item for item, _ in batch])
                except Exception as e:  # noqa: BLE001  (handed to every waiting request)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.running = False

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
