"""Response-body wrappers that tee bytes to the call recorder as the app reads them.

Nothing is read ahead of the app. The call ends exactly once: on exhaustion, ``close()``/``aclose()``, an
error while reading (re-raised untouched), or garbage collection of a body the app dropped.
httpx and httpx2 each check ``isinstance(stream, SyncByteStream)``, so a pair of classes is made per module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

from otel_llm._call import Call

_CLASSES: dict[str, tuple[type, type]] = {}


def _make(mod: ModuleType) -> tuple[type, type]:
    sync_base: Any = mod.SyncByteStream
    async_base: Any = mod.AsyncByteStream

    class TeeStream(sync_base):  # type: ignore[misc]
        __slots__ = ("_call", "_inner")

        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call

        def __iter__(self) -> Iterator[bytes]:
            call = self._call
            feed = call.feed
            try:
                for chunk in self._inner:
                    out = feed(chunk)
                    if out:
                        yield out
            except GeneratorExit:  # closed early, possibly by garbage collection
                call.finish(None, deferred=True)
                raise
            except BaseException as exc:
                call.finish(exc)
                raise
            tail = call.flush()
            if tail:
                yield tail
            call.finish(None)

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._call.finish(None)

        def __del__(self) -> None:
            self._call.finish(None, deferred=True)

    class AsyncTeeStream(async_base):  # type: ignore[misc]
        __slots__ = ("_call", "_inner")

        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call

        async def __aiter__(self) -> AsyncIterator[bytes]:
            call = self._call
            feed = call.feed
            try:
                async for chunk in self._inner:
                    out = feed(chunk)
                    if out:
                        yield out
            except GeneratorExit:  # closed early, possibly by garbage collection
                call.finish(None, deferred=True)
                raise
            except BaseException as exc:
                call.finish(exc)
                raise
            tail = call.flush()
            if tail:
                yield tail
            call.finish(None)

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._call.finish(None)

        def __del__(self) -> None:
            self._call.finish(None, deferred=True)

    return TeeStream, AsyncTeeStream


def classes_for(mod: ModuleType) -> tuple[type, type]:
    try:
        return _CLASSES[mod.__name__]
    except KeyError:
        pair = _CLASSES[mod.__name__] = _make(mod)
        return pair
