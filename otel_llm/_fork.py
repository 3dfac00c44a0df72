"""Objects that hold threads, locks or queued work re-initialise themselves in children made by ``os.fork()``.

A web server that imports (and instruments) the app and then forks its workers gives each worker a copy of
every object but none of the threads, and locks copied in whatever state another thread held them. Each such
object registers here and gets ``_reinit_after_fork()`` called in every child forked while it is alive.
"""

from __future__ import annotations

import itertools
import logging
import os
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)


class _Reinit(Protocol):
    def _reinit_after_fork(self) -> None: ...


# Live registered objects, in registration order; one fork hook serves them all (registering a hook per object
# would leave one behind, forever, for every object ever made).
_LIVE: weakref.WeakValueDictionary[int, _Reinit] = weakref.WeakValueDictionary()
_counter = itertools.count()
_hooked = False


def _reinit_all() -> None:
    for obj in list(_LIVE.values()):
        try:
            obj._reinit_after_fork()
        except Exception:
            logger.debug("re-initialising %r after fork failed", obj, exc_info=True)


def reinit_in_children(obj: _Reinit) -> None:
    """Call ``obj._reinit_after_fork()`` in every child forked from now on while ``obj`` is alive."""
    global _hooked
    if not hasattr(os, "register_at_fork"):  # not on this platform: nothing forks
        return
    _LIVE[next(_counter)] = obj
    if not _hooked:
        _hooked = True
        os.register_at_fork(after_in_child=_reinit_all)
