"""Coalesce concurrent calls of one coroutine: the first caller runs it, the others await it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """At most one run of an async job at a time; late callers share the running one's result."""

    __slots__ = ("_task",)

    def __init__(self) -> None:
        self._task: asyncio.Future[T] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, job: Callable[[], Awaitable[T]]) -> T:
        task = self._task
        loop = asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            task = asyncio.ensure_future(job())
            self._task = task
        # shield: one caller going away must not cancel the job the others wait for
        return await asyncio.shield(task)
