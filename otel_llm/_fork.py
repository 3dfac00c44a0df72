"""Objects that hold threads, locks or queued work re-initialise themselves in children made by ``os.fork()``.

A web server that imports (and instruments) the app and then forks its workers gives each worker a copy of
every object but none of the threads, and locks copied in whatever state another thread held them. Each such
object registers here and gets ``_reinit_after_fork()`` called in every child forked while it is alive.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)


class _Reinit(Protocol):
    def _reinit_after_fork(self) -> None: ...


def reinit_in_children(obj: _Reinit) -> None:
    """Call ``obj._reinit_after_fork()`` in every child forked from now on while ``obj`` is alive."""
    if not hasattr(os, "register_at_fork"):  # not on this platform: nothing forks
        return
    ref = weakref.ref(obj)

    def reinit() -> None:
        target = ref()
        if target is not None:
            try:
                target._reinit_after_fork()
            except Exception:
                logger.debug("re-initialising %r after fork failed", target, exc_info=True)

    os.register_at_fork(after_in_child=reinit)
