"""Fire-and-forget shadow copies on their own connections and bounded workers (SPEC §7.4).

* Sync apps: a thread pool (threads start lazily, at most the sum of the experiments' ``max_in_flight``) whose
  workers send with :class:`~otel_llm.routing._lean.LeanSync` (blocking sockets, a small HTTP/1.1 codec). No
  event loop needed.
* Async apps: tasks on the app's loop that send with :class:`~otel_llm.routing._lean.LeanAsync`
  (asyncio streams).

Admission is a counter per experiment: at ``max_in_flight`` the copy is dropped and counted, never queued.
Copies are fired just before the primary is sent and start ``_START_DELAY_S`` later, so that their CPU work
overlaps the primary's network wait rather than the app's own work. Each copy is built in its worker (the app's
thread only captures what it needs) and runs in a copy of the app's context (same trace, same baggage), under
``ExperimentContext(route="shadow", shadow=True, links=(primary,))`` and with baggage ``llm.shadow=true``;
its body is read fully and discarded.
``cancel(experiment_id)`` (kill switch) and ``close()`` interrupt copies in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context

from otel_llm import attributes as A
from otel_llm.enrich import experiment as exp_ctx
from otel_llm.routing import _hook, _lean

_log = logging.getLogger("otel_llm.routing")

Send = Callable[[Any], Any]

# How long a copy waits before it starts. Measured with a 5 ms primary on 2 cores, candidate resetting: in a sync
# app a copy starting at once cost the primary +1.7 ms at p50, after 0.2 ms +1.1 ms, after 1 ms +0.2 ms (within
# noise); in an async app, where the copy's steps (≈ 1.7 ms of loop time per call here) ran on the primary's way
# to the network, +1.8 ms at once and +0.2 to +0.4 ms after 1 ms.
_START_DELAY_S = 0.001


@dataclass(slots=True, eq=False)  # identity hash: jobs live in a set
class _Job:
    experiment_id: str
    variant: str
    # Builds the copy and its tags in the worker, off the app's request path (and, for async apps, while the
    # primary is waiting on the network).
    start: Callable[[], tuple[Any, exp_ctx.ExperimentContext]]
    context: contextvars.Context
    thread: int | None = None
    cancelled: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class ShadowPool:
    def __init__(self, on_drop: Callable[[str, str], None]) -> None:
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._jobs: set[_Job] = set()
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None
        self._lean_sync: dict[str, tuple[Any, _lean.LeanSync]] = {}
        self._lean_async: dict[str, Any] = {}
        self.timeout_s = 10.0

    # --- admission ------------------------------------------------------------------------------------------
    def _admit(self, job: _Job, limit: int) -> bool:
        with self._lock:
            n = self._in_flight.get(job.experiment_id, 0)
            if self._closed or n >= limit:
                admitted = False
            else:
                self._in_flight[job.experiment_id] = n + 1
                self._jobs.add(job)
                admitted = True
        if not admitted:
            self._on_drop(job.experiment_id, job.variant)
        return admitted

    def _release(self, job: _Job) -> None:
        with self._lock:
            self._jobs.discard(job)
            self._in_flight[job.experiment_id] -= 1

    def in_flight(self, experiment_id: str | None = None) -> int:
        with self._lock:
            if experiment_id is None:
                return sum(self._in_flight.values())
            return self._in_flight.get(experiment_id, 0)

    # --- sync -----------------------------------------------------------------------------------------------
    def _sync_transport(self, mod: ModuleType, timeout_s: float) -> tuple[Any, _lean.LeanSync]:
        key = f"{mod.__name__}:{timeout_s}"
        pair = self._lean_sync.get(key)
        if pair is None:
            lean = _lean.sync_transport(mod)(timeout_s)
            pair = self._lean_sync[key] = (_hook.instrument(lean), lean)
        return pair

    def submit_sync(self, mod: ModuleType, job: _Job, limit: int, timeout_s: float) -> bool:
        if not self._admit(job, limit):
            return False
        try:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=4096, thread_name_prefix="otel-llm-shadow")
                executor = self._executor
            send, lean = self._sync_transport(mod, timeout_s)
            future: Future[None] = executor.submit(job.context.run, self._run_sync, job, send, lean)
            future.add_done_callback(lambda _f: self._release(job))
        except RuntimeError:  # executor shut down by a concurrent close()
            self._release(job)
            return False
        return True

    def _run_sync(self, job: _Job, send: Any, lean: _lean.LeanSync) -> None:
        job.thread = threading.get_ident()
        # Let the app thread that fired this copy go first: it is about to send its primary, and a worker that
        # takes the GIL at that send would keep it (re-taking it after each short syscall of its own) while the
        # app thread waits for it. Sleeping releases the GIL long enough for the app thread to reach its network
        # wait; the copy's work then overlaps that wait. Outside the shadow span, so not in its latency.
        time.sleep(_START_DELAY_S)
        if job.cancelled:
            job.thread = None
            return
        try:
            request, tags = job.start()
        except Exception as exc:
            _log.debug("shadow copy for %s not built: %r", job.experiment_id, exc)
            job.thread = None
            return
        if job.cancelled:  # while it waited for the primary's span
            job.thread = None
            return
        request.extensions[_lean.CANCEL_EXTENSION] = job  # cancel() sets job.cancelled, then aborts the socket
        token = otel_context.attach(baggage.set_baggage(A.BAGGAGE_SHADOW, "true"))
        try:
            with exp_ctx.use(tags):
                response = send.handle_request(request)
                try:
                    for _chunk in response.stream:  # raises CancelledError once cancelled
                        pass
                finally:
                    response.close()
        except Exception as exc:  # a failing candidate must never surface anywhere but its own span
            _log.debug("shadow copy for %s failed: %r", job.experiment_id, exc)
        finally:
            otel_context.detach(token)
            job.thread = None

    # --- async ----------------------------------------------------------------------------------------------
    def submit_async(self, mod: ModuleType, job: _Job, limit: int, timeout_s: float) -> bool:
        if not self._admit(job, limit):
            return False
        send = self._lean_async.get(mod.__name__)
        if send is None:
            send = self._lean_async[mod.__name__] = _hook.instrument(_lean.async_transport(mod)())
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._run_async(job, send, timeout_s), context=job.context)
        job.task = task
        task.add_done_callback(lambda _t: self._release(job))
        return True

    async def _run_async(self, job: _Job, send: Any, timeout_s: float) -> None:
        # The same courtesy as a sync worker's: the primary was fired just before this task, and its way to the
        # network passes through awaits that let other tasks run; a copy started at once would run its steps
        # there, on the primary's path. After a short sleep they run while the primary waits for its response.
        await asyncio.sleep(_START_DELAY_S)
        try:
            request, tags = job.start()
        except Exception as exc:
            _log.debug("shadow copy for %s not built: %r", job.experiment_id, exc)
            return
        token = otel_context.attach(baggage.set_baggage(A.BAGGAGE_SHADOW, "true"))
        try:
            with exp_ctx.use(tags):
                async with asyncio.timeout(timeout_s):
                    response = await send.handle_async_request(request)
                    try:
                        async for _chunk in response.stream:
                            pass
                    finally:
                        await response.aclose()
        except Exception as exc:
            _log.debug("shadow copy for %s failed: %r", job.experiment_id, exc)
        finally:
            otel_context.detach(token)

    # --- cancellation and shutdown --------------------------------------------------------------------------
    def cancel(self, experiment_id: str | None = None) -> int:
        """Interrupt copies in flight (of one experiment, or all). Returns how many were signalled."""
        with self._lock:
            jobs = [j for j in self._jobs if experiment_id is None or j.experiment_id == experiment_id]
        for job in jobs:
            job.cancelled = True
            if job.task is not None:
                loop = job.task.get_loop()
                if loop.is_closed():
                    continue
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is loop:
                    job.task.cancel()
                else:
                    loop.call_soon_threadsafe(job.task.cancel)
            elif job.thread is not None:
                for _send, lean in list(self._lean_sync.values()):
                    lean.abort(job.thread)
        return len(jobs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        self.cancel()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for _send, lean in list(self._lean_sync.values()):
            lean.close()

    async def aclose(self) -> None:
        with self._lock:
            tasks = [j.task for j in self._jobs if j.task is not None]
        self.close()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
