"""Setting up and tearing down otel-llm: ``activate()`` behind ``otel_llm.instrument()`` and ``LLMInstrumentor``.

Kept free of opentelemetry-instrumentation's ``BaseInstrumentor`` (and the packaging/wrapt machinery it imports),
which only ``opentelemetry-instrument`` needs: ``otel_llm._instrumentor`` wraps this module for it.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import sys
import threading
import weakref
from types import ModuleType
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import get_tracer, get_tracer_provider

from otel_llm import __version__, _imports, _metrics, _safety, _state, _transport, config
from otel_llm import environment_variables as env
from otel_llm._background import Background
from otel_llm.enrich.cost import CostCalculator
from otel_llm.errors import ConfigurationError

_log = logging.getLogger(__name__)
_MODULES = ("httpx", "httpx2")
_PROCESS_START_S = 60.0  # how long instrument() waits for the redaction process to build its engine
_SETTING_KEYS = (
    "capture_content",
    "redaction",
    "redaction_process",
    "prices",
    "provider_hosts",
    "stream_include_usage",
    "excluded_urls",
    "max_body_bytes",
)


def _build_redaction_worker(settings: config.Settings, meter_provider: Any) -> Any:
    try:
        from otel_llm.redaction import PresidioRedactor, RedactionWorker
    except ImportError as exc:
        raise ConfigurationError(
            "capture_content=True needs the redaction engine: pip install 'otel-llm[presidio]' "
            f"(content is never exported unredacted) — {exc}"
        ) from exc
    redactor = PresidioRedactor(mode="ner") if settings.redaction == "ner" else PresidioRedactor(mode="patterns")
    if settings.redaction_process is not False:
        from otel_llm.redaction import ProcessRedactionWorker

        worker = ProcessRedactionWorker(redactor, meter_provider=meter_provider)
        # the child builds its engine now, not mid-traffic
        if worker.wait_ready(_PROCESS_START_S) or settings.redaction_process:
            return worker  # asked for explicitly: while the child cannot run, content is dropped
        worker.shutdown(0.0)
        _log.warning(
            "the redaction process could not be started; redacting captured content on a thread of this process "
            "instead (set %s=false to choose that and skip the attempt)",
            env.OTEL_LLM_REDACTION_PROCESS,
        )
    redactor.warm_up()  # build the engine (and its imports) here, not on the worker thread mid-traffic
    return RedactionWorker(redactor, meter_provider=meter_provider)


_lock = threading.Lock()
_active = False
_active_kwargs: dict[str, Any] = {}  # what the current instrumentation was set up with


def activate(**kwargs: Any) -> None:
    """Build the state and patch the HTTP clients; nothing to do when already active (idempotent)."""
    global _active, _active_kwargs
    with _lock:
        if _active:
            if kwargs and kwargs != _active_kwargs:
                _log.warning(
                    "otel-llm is already instrumented with other settings; they stay as they are "
                    "(call otel_llm.uninstrument() first to change them)"
                )
            return
        build_state(**kwargs)
        _patch()
        _active_kwargs = dict(kwargs)
        _active = True


def deactivate(timeout_s: float = 5.0) -> None:
    """Restore the HTTP clients exactly and finish the calls still held (idempotent)."""
    global _active, _active_kwargs
    with _lock:
        if not _active:
            return
        _unpatch()
        clear_state(timeout_s)
        _active = False
        _active_kwargs = {}


def is_active() -> bool:
    return _active


def active_kwargs() -> dict[str, Any]:
    """The keyword arguments the active ``instrument()`` was called with (providers, settings, enrichers)."""
    return dict(_active_kwargs)


def build_state(**kwargs: Any) -> _state.State:
    """Resolve settings and build the tracer, instruments, cost table and redaction worker."""
    settings = config.resolve(**{k: kwargs[k] for k in _SETTING_KEYS if k in kwargs})
    meter_provider = kwargs.get("meter_provider")
    tracer = get_tracer(
        "otel_llm",
        __version__,
        kwargs.get("tracer_provider"),
        schema_url="https://opentelemetry.io/schemas/1.37.0",
    )
    instruments = _metrics.create(meter_provider)
    costs = CostCalculator.from_file(settings.prices_file)
    worker = _build_redaction_worker(settings, meter_provider) if settings.capture_content else None
    _safety.set_error_counter(instruments.internal_errors.add)
    enrichers = tuple(kwargs.get("enrichers") or ())
    state = _state.State(settings, tracer, instruments, costs, Background(), worker, enrichers)
    _hook_flush(kwargs.get("tracer_provider"))
    _state.set_state(state)
    return state


def _patch_module(mod: ModuleType) -> None:
    for cls_name, patch in (
        ("Client", _transport.make_sync_patch),
        ("AsyncClient", _transport.make_async_patch),
    ):
        cls = getattr(mod, cls_name)
        current = cls._send_single_request
        if getattr(current, "__wrapped__", None) is None:
            cls._send_single_request = patch(current)


def _unpatch_module(mod: ModuleType) -> None:
    for cls_name in ("Client", "AsyncClient"):
        cls = getattr(mod, cls_name)
        original = getattr(cls._send_single_request, "__wrapped__", None)
        if original is not None:
            cls._send_single_request = original


def _patch() -> None:
    """Patch httpx, httpx2 and aiohttp now if imported, else as soon as the app imports them."""
    for name in _MODULES:
        _imports.when_imported(name, _patch_module)
    _imports.when_imported("aiohttp", lambda _mod: importlib.import_module("otel_llm._aiohttp").patch())


def _unpatch() -> None:
    _imports.cancel_all()
    for name in _MODULES:
        mod = sys.modules.get(name)
        if mod is not None:
            _unpatch_module(mod)
    if "aiohttp" in sys.modules:
        importlib.import_module("otel_llm._aiohttp").unpatch()


def clear_state(timeout_s: float = 5.0) -> None:
    state = _state.get()
    _state.set_state(None)
    if state is not None:
        state.background.shutdown(timeout_s)  # completes calls, which may hand content to the redaction worker
        if state.redaction_worker is not None:
            state.redaction_worker.shutdown(timeout_s)
    _safety.set_error_counter(None)


def flush(timeout_s: float = 5.0) -> bool:
    """Wait for queued metric measurements and content redaction to finish (before collecting or exiting)."""
    state = _state.get()
    if state is None:
        return True
    ok = state.background.flush(timeout_s)
    if state.redaction_worker is not None:
        ok = bool(state.redaction_worker.flush(timeout_s)) and ok
    return ok


class _FlushFirst(SpanProcessor):
    """Registered on the tracer provider: its ``force_flush`` first completes the calls otel-llm still holds,
    then flushes the provider again so those spans are exported too."""

    def __init__(self, provider: Any) -> None:
        self._provider = weakref.ref(provider)
        self._busy = threading.local()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if getattr(self._busy, "on", False) or _state.get() is None:
            return True
        self._busy.on = True
        try:
            ok = flush(timeout_millis / 1000)
            provider = self._provider()
            return bool(provider.force_flush(timeout_millis)) and ok if provider is not None else ok
        finally:
            self._busy.on = False


_HOOKED: weakref.WeakSet[Any] = weakref.WeakSet()


def _hook_flush(tracer_provider: Any) -> None:
    provider = tracer_provider if tracer_provider is not None else get_tracer_provider()
    if not hasattr(provider, "add_span_processor") or provider in _HOOKED:
        return
    provider.add_span_processor(_FlushFirst(provider))
    _HOOKED.add(provider)
    # registered after the provider's own exit hook, so it runs before it (atexit is last-in, first-out)
    atexit.unregister(_drain_at_exit)
    atexit.register(_drain_at_exit)


def _drain_at_exit() -> None:
    flush(2.0)
