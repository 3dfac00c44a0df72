"""otel_llm._fork: objects re-initialise in forked children while alive; one fork hook serves them all."""

from __future__ import annotations

import gc
import os

import pytest

from otel_llm import _fork

pytestmark = pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")


class _Holder:
    def __init__(self, name: str, log_fd: int) -> None:
        self.name = name
        self.log_fd = log_fd
        _fork.reinit_in_children(self)

    def _reinit_after_fork(self) -> None:
        os.write(self.log_fd, f"{self.name}\n".encode())


class _Broken:
    def __init__(self) -> None:
        _fork.reinit_in_children(self)

    def _reinit_after_fork(self) -> None:
        raise RuntimeError("reinit failed")


def _fork_and_read(read_end: int, write_end: int) -> list[str]:
    pid = os.fork()
    if pid == 0:  # the child: the hooks have run by now; report nothing else
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(read_end) as f:
        return f.read().split()


def test_live_objects_reinit_in_order_and_dead_ones_are_forgotten() -> None:
    read_end, write_end = os.pipe()
    first = _Holder("first", write_end)
    dropped = _Holder("dropped", write_end)
    broken = _Broken()  # a failing re-init is logged, and does not stop the others
    last = _Holder("last", write_end)
    del dropped
    gc.collect()
    assert not any(isinstance(obj, _Holder) and obj.name == "dropped" for obj in _fork._LIVE.values())
    assert _fork_and_read(read_end, write_end) == ["first", "last"]
    assert first.name == "first" and last.name == "last" and broken is not None


def test_one_fork_hook_however_many_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    monkeypatch.setattr(_fork, "_hooked", False)
    monkeypatch.setattr(_fork.os, "register_at_fork", lambda **kw: registered.append(kw))
    read_end, write_end = os.pipe()
    holders = [_Holder(str(i), write_end) for i in range(50)]
    os.close(read_end)
    os.close(write_end)
    assert len(registered) == 1
    assert len(holders) == 50
