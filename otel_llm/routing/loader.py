"""Load an experiments file with errors that name the line, and reload it when it changes.

YAML is composed into nodes (which keep their line marks) and turned into plain data while recording the line
of every key and item; pydantic and semantic errors are then located through that map.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from otel_llm.errors import ConfigurationError
from otel_llm.routing.config import API_KEY_MESSAGE, ExperimentsFile, Loc, semantic_problems

_log = logging.getLogger("otel_llm.routing")


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None  # 1-based
    loc: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.loc + ': ' if self.loc else ''}{self.message}"


class ExperimentsFileError(ConfigurationError):
    """An experiments file that cannot be used; ``problems`` carries each error with its line."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid experiments file\n" + "\n".join(f"  {p}" for p in problems))


def _to_data(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Keys stay the raw scalar text: YAML 1.1 would turn the key ``on`` (fallback.on) into True.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*loc, key)
            out[key] = _to_data(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _fmt(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _inline_keys(data: Any, loc: Loc) -> list[Loc]:
    found: list[Loc] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "api_key":
                found.append((*loc, k))
            found.extend(_inline_keys(v, (*loc, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found.extend(_inline_keys(v, (*loc, i)))
    return found


def parse(text: str, source: str = "<string>") -> ExperimentsFile:
    """Parse and validate an experiments file; raise :class:`ExperimentsFileError` listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ExperimentsFileError(source, [Problem(line, "", f"YAML syntax: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ExperimentsFileError(source, [Problem(None, "", f"YAML: {exc}")]) from None
    lines: dict[Loc, int] = {}
    data = _to_data(root, (), lines) if root is not None else {}
    if not isinstance(data, dict):
        raise ExperimentsFileError(source, [Problem(1, "", "the file must be a mapping with 'experiments:'")])
    inline = _inline_keys(data, ())
    if inline:
        probs = [Problem(_line_for(loc, lines), _fmt(loc), API_KEY_MESSAGE) for loc in inline]
        raise ExperimentsFileError(source, probs)
    try:
        cfg = ExperimentsFile.model_validate(data)
    except ValidationError as exc:
        probs = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            probs.append(Problem(_line_for(loc, lines), _fmt(loc), err["msg"]))
        raise ExperimentsFileError(source, probs) from None
    sem = semantic_problems(cfg)
    if sem:
        raise ExperimentsFileError(source, [Problem(_line_for(loc, lines), _fmt(loc), m) for loc, m in sem])
    return cfg


def check(cfg: ExperimentsFile, source: str = "<config>") -> ExperimentsFile:
    """Run the cross-field checks on a config built in code."""
    sem = semantic_problems(cfg)
    if sem:
        raise ExperimentsFileError(source, [Problem(None, _fmt(loc), m) for loc, m in sem])
    return cfg


def load(path: str | os.PathLike[str]) -> ExperimentsFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentsFileError(str(p), [Problem(None, "", f"cannot read: {exc}")]) from None
    return parse(text, str(p))


class Reloader:
    """Holds the current config of a file and re-reads it when its mtime or size changes.

    ``maybe_reload()`` is meant for the request path: it costs one ``time.monotonic()`` call until
    ``interval_s`` has passed, then one ``os.stat``. A bad file keeps the last good config and logs why.
    """

    def __init__(self, path: str | os.PathLike[str], interval_s: float = 0.5) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self.config = load(self.path)
        self.last_error: ExperimentsFileError | None = None
        self._next = time.monotonic() + interval_s

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def maybe_reload(self) -> bool:
        """Reload if due and changed; True when a new config was installed."""
        if time.monotonic() < self._next:
            return False
        return self.reload(force=False)

    def reload(self, force: bool = True) -> bool:
        if not self._lock.acquire(blocking=force):
            return False
        try:
            self._next = time.monotonic() + self.interval_s
            stamp = self._stat()
            if not force and stamp == self._stamp:
                return False
            self._stamp = stamp
            try:
                cfg = load(self.path)
            except ExperimentsFileError as exc:
                self.last_error = exc
                _log.error("experiments file reload failed; keeping the last good config: %s", exc)
                return False
            self.last_error = None
            if cfg == self.config:
                return False
            self.config = cfg
            _log.info("experiments file reloaded: %s", self.path)
            return True
        finally:
            self._lock.release()
