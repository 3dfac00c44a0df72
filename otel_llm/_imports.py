"""Patch a module when it is imported, not before: ``instrument()`` must not import httpx, httpx2 or aiohttp
into an app that does not use them (each costs megabytes of memory)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from otel_llm import _safety

_pending: dict[str, Callable[[ModuleType], None]] = {}
_lock = threading.Lock()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        hook = _pending.get(fullname)
        if hook is None:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader: Any = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            run = _pending.pop(fullname, None)
            if run is not None:
                try:
                    run(module)
                except Exception as exc:
                    _safety.report("patch-on-import", exc)

        loader.exec_module = exec_module
        return spec


_finder = _Finder()


def when_imported(name: str, hook: Callable[[ModuleType], None]) -> None:
    """Run ``hook(module)`` now if ``name`` is imported, else right after it is (once)."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _pending[name] = hook
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            return
    hook(module)


def cancel_all() -> None:
    """Forget hooks for modules not imported yet."""
    with _lock:
        _pending.clear()
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
