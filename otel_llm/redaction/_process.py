"""Redaction in a child process, so that Presidio's CPU does not compete with the application for the GIL.

``ProcessRedactionWorker`` has the interface and the fail-closed contract of `RedactionWorker`
(``submit(span, end_time_ns, content)``, ``flush``, ``shutdown``). ``submit`` only queues the item. A sender
thread takes what has piled up (one item or a batch), pickles it into one frame and writes it to the child's
stdin; a receiver thread reads the results from its stdout, sets the redacted attributes and ends the spans
with their original end times. The child (``python -m otel_llm.redaction._child``, started with
``subprocess``: no ``multiprocessing`` re-import of the app's ``__main__`` and no fork of a threaded process)
builds the same redactor and runs `redact_content`, JSON serialisation and byte budget included.

Fail closed, as in process: more than ``queue_size`` pending → dropped; no answer within ``item_timeout_s`` of
being sent → dropped, and the child is killed (it is stuck or far behind); the child exits or is killed → every
item it held is dropped and a new child is started for later items, after a back-off when it keeps failing;
the child cannot be started → items are dropped, a WARNING is logged once. Time spent waiting for a child to
start (at most ``start_timeout_s``) does not count against an item. The child inherits the environment, the
working directory and the CPU affinity of the app; its stderr is logged here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, Final

from otel_llm._fork import reinit_in_children
from otel_llm.redaction._frames import HEADER, MAX_FRAME, STATUS_OK, encode
from otel_llm.redaction._presidio import PresidioRedactor
from otel_llm.redaction._worker import (
    _STOP,
    DEFAULT_ITEM_TIMEOUT_S,
    DEFAULT_MAX_ATTRIBUTE_BYTES,
    DEFAULT_MAX_INPUT_CHARS,
    DEFAULT_QUEUE_SIZE,
    REASON_ERROR,
    REASON_SHUTDOWN,
    REASON_TIMEOUT,
    SpanEnder,
    _Item,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from otel_llm.redaction import Redactor

logger = logging.getLogger(__name__)

# Items held by a child that exited or was killed (other than for a timeout or at shutdown).
REASON_PROCESS_EXIT: Final = "process_exit"
# Items that could not be handed to a child because none could be started.
REASON_UNAVAILABLE: Final = "unavailable"

DEFAULT_START_TIMEOUT_S: Final = 60.0
MAX_BATCH: Final = 64  # items per frame when a backlog has built up
# The sender waits this long after the first item of a batch before sending it: each frame costs the app two
# thread wake-ups (sender, receiver), and each wake-up takes the GIL from the app's own threads at their next
# system call. Batching a busy app's items cuts that per item; a span is exported this much later at most.
BATCH_WAIT_S: Final = 0.02
BACKOFF_FIRST_S: Final = 0.05  # wait before restarting a child that failed, doubling per failure in a row...
BACKOFF_MAX_S: Final = 5.0  # ...up to this
WATCH_INTERVAL_S: Final = 0.25  # the receiver checks deadlines this often while items are in flight...
_IDLE_WAIT_S: Final = 1.0  # ...and this often when none are


class _Child:
    """One child process and what it holds: ``inflight`` maps item id → (item, deadline)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.inflight: dict[int, tuple[_Item, float]] = {}
        self.ready = threading.Event()  # set when the child is ready, and when it is gone
        self.alive = True
        self.exit_reason = REASON_PROCESS_EXIT
        self.threads: list[threading.Thread] = []
        self.write_lock = threading.Lock()  # held while writing to stdin; stdin is closed only under it

    def write(self, data: bytes) -> None:
        with self.write_lock:
            _write(self.proc.stdin, data)

    def close_stdin(self, wait_s: float) -> bool:
        """Close stdin (the child exits on EOF) once no write is in progress; False if a write held it."""
        if not self.write_lock.acquire(timeout=wait_s):
            return False
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        finally:
            self.write_lock.release()
        return True


class ProcessRedactionWorker(SpanEnder):
    """Redacts span content in a child process and ends the spans; fails closed (see module docstring).

    ``redactor`` is a `PresidioRedactor` (the child builds an equal one from its options) or any picklable
    redactor whose class the child can import. ``submit`` never blocks and never raises.
    """

    def __init__(
        self,
        redactor: Redactor,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        item_timeout_s: float = DEFAULT_ITEM_TIMEOUT_S,
        max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
        max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        super().__init__(
            queue_size=queue_size,
            item_timeout_s=item_timeout_s,
            max_attribute_bytes=max_attribute_bytes,
            meter_provider=meter_provider,
        )
        if type(redactor) is PresidioRedactor:
            spec: tuple[str, Any] = ("presidio", redactor.options())
        else:
            spec = ("object", pickle.dumps(redactor, protocol=pickle.HIGHEST_PROTOCOL))
        self._init_frame = encode((*spec, max_attribute_bytes, max_input_chars))
        self._start_timeout_s = start_timeout_s
        self._ids = itertools.count()
        self._child: _Child | None = None
        self._failures = 0  # child starts or runs that failed in a row
        self._next_start = 0.0
        self._warned = False
        self._stopping = threading.Event()
        self._children: list[_Child] = []  # every child started, until reaped
        self._sender = threading.Thread(target=self._send_loop, name="otel-llm-redaction-sender", daemon=True)
        self._sender.start()
        reinit_in_children(self)

    def _reinit_after_fork(self) -> None:
        """In a forked child: the redaction process and its pipes belong to the parent. Close this copy of the
        pipes (the parent keeps its own), forget that process, and start a sender; a child of our own is started
        with the first item."""
        super()._reinit_after_fork()
        for child in self._children:
            for stream in (child.proc.stdin, child.proc.stdout, child.proc.stderr):
                with contextlib.suppress(OSError, ValueError):
                    if stream is not None:
                        stream.close()  # unbuffered (bufsize=0): closes this copy of the fd, writes nothing
            child.alive = False
            child.proc.returncode = 0  # never waited for or signalled from here: not our process
        self._children = []
        self._child = None
        self._failures = 0
        self._next_start = 0.0
        self._stopping = threading.Event()
        if self._closed:
            return
        self._sender = threading.Thread(target=self._send_loop, name="otel-llm-redaction-sender", daemon=True)
        self._sender.start()

    # --- control --------------------------------------------------------------------------------------------
    @property
    def child_pid(self) -> int | None:
        """The process id of the current child, or None when none is running."""
        child = self._child
        return child.proc.pid if child is not None and child.alive else None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start the child now if none is running and wait until its engine is built; False if it is not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            child = self._child
            if child is None or not child.alive:
                try:
                    child = self._start_locked()
                except Exception:
                    return False
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if child.ready.wait(left) and child.alive:
            return True
        if not child.alive:
            self._start_failed(f"the redaction process did not start (exit code {child.proc.poll()})")
        return False

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Stop accepting work, drain within ``timeout_s``, end the rest as dropped, stop the child and threads."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._closed = True
        drained = self.flush(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        self._queue.put(_STOP)
        self._drop_queued(REASON_SHUTDOWN)
        with self._lock:
            children = list(self._children)
            self._child = None
        for child in children:
            self._stop_child(child, REASON_SHUTDOWN, deadline)
        for thread in [self._sender, *(t for child in children for t in child.threads)]:
            if thread is not threading.current_thread():
                thread.join(max(0.05, deadline - time.monotonic()))
        return drained

    # --- sender thread --------------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            first = get()
            batch: list[_Item] = []
            stop = first is _STOP
            if not stop:
                self._stopping.wait(BATCH_WAIT_S)
            if isinstance(first, _Item):
                batch.append(first)
            while not stop and len(batch) < MAX_BATCH:
                try:
                    more = get_nowait()
                except Exception:  # queue.Empty
                    break
                if more is _STOP:
                    stop = True
                elif isinstance(more, _Item):
                    batch.append(more)
            if batch:
                try:
                    self._send(batch)
                except Exception:
                    logger.debug("sending items to the redaction process failed", exc_info=True)
                    for item in batch:
                        self._drop(item, REASON_ERROR)
            if stop:
                return

    def _send(self, batch: list[_Item]) -> None:
        child = self._ready_child()
        if child is None:
            reason = REASON_SHUTDOWN if self._stopping.is_set() else REASON_UNAVAILABLE
            for item in batch:
                self._drop(item, reason)
            return
        deadline = time.monotonic() + self._item_timeout_s
        frame: list[tuple[int, Mapping[str, object]]] = []
        with self._lock:
            if not child.alive:  # gone in the meantime: its receiver has already dropped what it held
                gone = True
            else:
                gone = False
                for item in batch:
                    item_id = next(self._ids)
                    child.inflight[item_id] = (item, deadline)
                    frame.append((item_id, item.content))
        if gone:
            for item in batch:
                self._drop(item, REASON_PROCESS_EXIT)
            return
        try:
            data = encode(frame)
        except Exception:  # content that does not pickle: those items fail closed, the child is fine
            logger.debug("content could not be pickled", exc_info=True)
            self._forget(child, [item_id for item_id, _ in frame], REASON_ERROR)
            return
        try:
            child.write(data)
        except (OSError, ValueError):  # the child is gone; its receiver drops what it held (these items included)
            logger.debug("writing to the redaction process failed", exc_info=True)

    def _ready_child(self) -> _Child | None:
        """The running child, starting one (after the back-off) if needed; None if none can be had."""
        child = self._child
        if child is not None and child.alive and child.ready.is_set():
            return child
        if child is None or not child.alive:
            wait = self._next_start - time.monotonic()
            if wait > 0 and self._stopping.wait(wait):
                return None
            failure: Exception | None = None
            with self._lock:
                if self._closed and self._stopping.is_set():
                    return None
                child = self._child
                if child is None or not child.alive:
                    try:
                        child = self._start_locked()
                    except Exception as exc:
                        failure = exc
            if failure is not None or child is None:  # reported outside the lock: _start_failed takes it
                self._start_failed(f"could not start the redaction process: {failure!r}")
                return None
        if not child.ready.wait(self._start_timeout_s) or not child.alive:
            if child.alive:
                self._stop_child(child, REASON_UNAVAILABLE, time.monotonic() + 1.0)
            self._start_failed(f"the redaction process did not start (exit code {child.proc.poll()})")
            return None
        return child

    def _start_locked(self) -> _Child:
        proc = subprocess.Popen(
            [sys.executable, "-m", "otel_llm.redaction._child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        child = _Child(proc)
        self._child = child
        self._children.append(child)
        for target, name in ((self._receive_loop, "receiver"), (self._log_stderr, "stderr")):
            thread = threading.Thread(target=target, args=(child,), name=f"otel-llm-redaction-{name}", daemon=True)
            child.threads.append(thread)
            thread.start()
        try:
            child.write(self._init_frame)
        except (OSError, ValueError):
            logger.debug("writing to the redaction process failed", exc_info=True)
        return child

    def _start_failed(self, message: str) -> None:
        with self._lock:
            self._failures += 1
            self._next_start = time.monotonic() + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
            warn, self._warned = not self._warned, True
        if warn:
            logger.warning("%s; captured content is dropped (fail closed) until it starts", message)

    # --- receiver thread (one per child) --------------------------------------------------------------------
    def _receive_loop(self, child: _Child) -> None:
        stdout = child.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        buffer = bytearray()
        try:
            while True:
                wait = WATCH_INTERVAL_S if child.inflight else _IDLE_WAIT_S
                readable, _, _ = select.select([fd], [], [], wait)
                if readable:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        break
                    buffer += chunk
                    self._take_frames(child, buffer)
                self._check_deadlines(child)
        except Exception:
            logger.debug("reading from the redaction process failed", exc_info=True)
        finally:
            self._child_gone(child)
            stdout.close()

    def _take_frames(self, child: _Child, buffer: bytearray) -> None:
        while len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes from the redaction process")
            if len(buffer) < HEADER.size + size:
                return
            message = pickle.loads(bytes(buffer[HEADER.size : HEADER.size + size]))
            del buffer[: HEADER.size + size]
            if isinstance(message, tuple) and message and message[0] == "ready":
                child.ready.set()
                continue
            for item_id, status, payload in message:
                with self._lock:
                    entry = child.inflight.pop(item_id, None)
                    self._failures = 0
                if entry is None:
                    continue
                if status == STATUS_OK:
                    self._finish(entry[0], payload)
                else:
                    self._drop(entry[0], status)

    def _check_deadlines(self, child: _Child) -> None:
        if not child.inflight:
            return
        now = time.monotonic()
        with self._lock:
            late = any(deadline <= now for _, deadline in child.inflight.values())
        if late:
            logger.debug("the redaction process did not answer in time; restarting it")
            self._stop_child(child, REASON_TIMEOUT, now + 1.0)

    def _child_gone(self, child: _Child) -> None:
        """The child's stdout ended (exit, crash, kill): drop what it held, reap it, allow a restart."""
        with self._lock:
            child.alive = False
            held = list(child.inflight.values())
            child.inflight.clear()
            if self._child is child:
                self._child = None
            unexpected = child.exit_reason == REASON_PROCESS_EXIT and not self._stopping.is_set()
            if unexpected:
                self._failures += 1
                self._next_start = time.monotonic() + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
        child.ready.set()  # a sender waiting for it to start stops waiting
        self._reap(child, time.monotonic() + 1.0)
        for item, _ in held:
            self._drop(item, child.exit_reason)
        if unexpected:
            logger.debug("the redaction process exited (code %s)", child.proc.returncode)

    def _log_stderr(self, child: _Child) -> None:
        stderr = child.proc.stderr
        if stderr is None:
            return
        try:
            for line in iter(stderr.readline, b""):
                text = line.decode("utf-8", "replace").rstrip()
                # A child that keeps failing to start says the same each time: at WARNING only until warned.
                level = logging.DEBUG if self._warned and not child.ready.is_set() else logging.WARNING
                if text:
                    logger.log(level, "redaction process: %s", text)
        except Exception:
            logger.debug("reading the redaction process's stderr failed", exc_info=True)
        finally:
            stderr.close()

    # --- stopping a child -----------------------------------------------------------------------------------
    def _forget(self, child: _Child, item_ids: list[int], reason: str) -> None:
        with self._lock:
            entries = [child.inflight.pop(i, None) for i in item_ids]
        for entry in entries:
            if entry is not None:
                self._drop(entry[0], reason)

    def _stop_child(self, child: _Child, reason: str, deadline: float) -> None:
        """End the child: what it holds is dropped with ``reason``; stdin closed, then terminate, then kill."""
        with self._lock:
            if child.alive and child.exit_reason == REASON_PROCESS_EXIT:
                child.exit_reason = reason
            held = list(child.inflight.values())
            child.inflight.clear()
            if self._child is child:
                self._child = None
        child.ready.set()
        if reason == REASON_SHUTDOWN and child.close_stdin(0.01):  # a healthy child exits on EOF
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(max(0.0, min(0.2, deadline - time.monotonic() - 0.05)))
        self._reap(child, deadline)
        for item, _ in held:  # once the child is gone: flush() returning means the process is reaped
            self._drop(item, reason)

    def _reap(self, child: _Child, deadline: float) -> None:
        proc = child.proc
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.debug("the redaction process %s did not exit after SIGKILL yet", proc.pid)
        child.close_stdin(1.0)  # after the kill, a write in progress fails at once
        with self._lock:
            if proc.returncode is not None and child in self._children:
                self._children.remove(child)


def _write(stream: IO[bytes] | None, data: bytes) -> None:
    if stream is None:
        raise BrokenPipeError("no stdin")
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written or 0 :]
