"""Phased rollout with guardrails (SPEC §7.5), operating on the experiments file in place.

Edits touch only the scalars they change (found through YAML node marks), so comments, order and formatting of
the rest of the file survive. A running :class:`~otel_llm.routing.Router` picks the change up on hot reload.

* ``advance``: needs every guardrail to pass with at least ``min_samples_per_phase`` live calls on control and
  candidate; a breach pauses instead (auto-pause) and records why.
* ``pause``: candidate weight → 0 (its share goes to control), ``status: paused`` and ``reason``.
* ``resume``: the candidate gets the current phase's weight back.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from otel_llm.errors import ConfigurationError
from otel_llm.routing import loader
from otel_llm.routing.config import Experiment, ExperimentsFile, Loc
from otel_llm.routing.guardrails import Check, PrometheusSource, StatsSource, VariantStats, check_all


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def set_value(text: str, loc: Loc, value: object) -> str:
    """Return ``text`` with the scalar at ``loc`` replaced (or the key added to its mapping)."""
    node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    parent: yaml.MappingNode | None = None
    for i, part in enumerate(loc):
        if node is None:
            break
        if isinstance(part, int):
            if not isinstance(node, yaml.SequenceNode):
                raise ConfigurationError(f"not a list at {loc[: i + 1]}")
            node = node.value[part]
            continue
        if not isinstance(node, yaml.MappingNode):
            raise ConfigurationError(f"not a mapping at {loc[: i + 1]}")
        parent, found = node, None
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == part:
                found = v
        if found is None and i != len(loc) - 1:
            raise ConfigurationError(f"missing key {part!r} at {loc[: i + 1]}")
        node = found
    rendered = _scalar(value)
    if node is not None:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigurationError(f"not a scalar at {loc}")
        return text[: node.start_mark.index] + rendered + text[node.end_mark.index :]
    assert parent is not None
    key = str(loc[-1])
    if parent.flow_style:
        pos: int = parent.end_mark.index - 1  # before the closing brace
        sep = ", " if parent.value else ""
        return text[:pos] + f"{sep}{key}: {rendered}" + text[pos:]
    first = parent.value[0][0]
    at: int = first.start_mark.index
    col: int = first.start_mark.column
    return text[:at] + f"{key}: {rendered}\n" + " " * col + text[at:]


@dataclass(frozen=True, slots=True)
class Status:
    experiment_id: str
    status: str
    phase: int
    phases: list[float]
    weights: dict[str, float]
    reason: str | None
    control: VariantStats | None = None
    candidate: VariantStats | None = None
    checks: tuple[Check, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "experiment": self.experiment_id,
            "status": self.status,
            "phase": self.phase,
            "phase_weight": self.phases[self.phase],
            "phases": self.phases,
            "weights": self.weights,
            "reason": self.reason,
            "control": _stats_dict(self.control),
            "candidate": _stats_dict(self.candidate),
            "guardrails": [
                {
                    "name": c.name,
                    "control": c.control,
                    "candidate": c.candidate,
                    "passed": c.passed,
                    "detail": c.detail,
                }
                for c in self.checks
            ],
        }


def _stats_dict(s: VariantStats | None) -> dict[str, object] | None:
    if s is None:
        return None
    return {k: getattr(s, k) for k in s.__slots__}


class Rollout:
    """Rollout operations on one experiments file."""

    def __init__(self, path: str | os.PathLike[str], source: StatsSource | None = None) -> None:
        self.path = Path(path)
        self.source = source

    def _load(self, experiment_id: str | None) -> tuple[str, ExperimentsFile, int, Experiment]:
        text = self.path.read_text(encoding="utf-8")
        cfg = loader.parse(text, str(self.path))
        ids = [e.id for e in cfg.experiments if e.rollout is not None]
        if experiment_id is None:
            if len(ids) != 1:
                raise ConfigurationError(f"choose an experiment with --experiment (rollouts: {', '.join(ids)})")
            experiment_id = ids[0]
        for i, e in enumerate(cfg.experiments):
            if e.id == experiment_id:
                if e.rollout is None:
                    raise ConfigurationError(f"experiment {experiment_id!r} has no rollout section")
                return text, cfg, i, e
        raise ConfigurationError(f"unknown experiment {experiment_id!r}")

    def _source_for(self, exp: Experiment) -> StatsSource | None:
        if self.source is not None:
            return self.source
        assert exp.rollout is not None
        if exp.rollout.prometheus_url:
            return PrometheusSource(exp.rollout.prometheus_url, window=exp.rollout.window)
        return None

    def status(self, experiment_id: str | None = None) -> Status:
        _, _, _, exp = self._load(experiment_id)
        ro = exp.rollout
        assert ro is not None
        weights = {v.name: v.weight for v in exp.variants}
        source = self._source_for(exp)
        control = candidate = None
        checks: tuple[Check, ...] = ()
        cand = exp.candidate_name()
        if source is not None and cand is not None:
            control = source.stats(exp.id, exp.control_name)
            candidate = source.stats(exp.id, cand)
            checks = tuple(check_all(ro.guardrails, control, candidate))
        return Status(exp.id, ro.status, ro.phase, list(ro.phases), weights, ro.reason, control, candidate, checks)

    def _write(self, text: str, edits: list[tuple[Loc, object]]) -> None:
        for loc, value in edits:
            text = set_value(text, loc, value)
        loader.parse(text, str(self.path))  # never write a file the router would reject
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".experiments-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.path)

    def _weights(self, i: int, exp: Experiment, new_candidate: float) -> list[tuple[Loc, object]]:
        cand = exp.candidate_name()
        control = exp.control_name
        old = {v.name: v.weight for v in exp.variants}
        assert cand is not None
        new_control = old[control] + old[cand] - new_candidate
        if new_control < 0:
            raise ConfigurationError(f"control weight would be {new_control:g}; lower the other variants first")
        idx = {v.name: j for j, v in enumerate(exp.variants)}
        base: Loc = ("experiments", i, "variants")
        return [((*base, idx[cand], "weight"), new_candidate), ((*base, idx[control], "weight"), new_control)]

    def pause(self, experiment_id: str | None = None, reason: str = "paused by operator") -> None:
        text, _, i, exp = self._load(experiment_id)
        ro: Loc = ("experiments", i, "rollout")
        self._write(text, [*self._weights(i, exp, 0.0), ((*ro, "status"), "paused"), ((*ro, "reason"), reason)])

    def resume(self, experiment_id: str | None = None) -> None:
        text, _, i, exp = self._load(experiment_id)
        assert exp.rollout is not None
        ro: Loc = ("experiments", i, "rollout")
        weight = exp.rollout.phases[exp.rollout.phase]
        last = exp.rollout.phase == len(exp.rollout.phases) - 1
        status = "done" if last and weight >= 100 else "running"
        self._write(text, [*self._weights(i, exp, weight), ((*ro, "status"), status), ((*ro, "reason"), None)])

    def enforce(self, experiment_id: str | None = None) -> Status:
        """Pause on a guardrail breach (with enough samples). Returns the status before any pause."""
        st = self.status(experiment_id)
        breach = self._breach(st)
        if breach is not None and st.status == "running":
            self.pause(st.experiment_id, reason=breach)
        return st

    def _enough(self, st: Status) -> int:
        _, _, _, exp = self._load(st.experiment_id)
        assert exp.rollout is not None
        return exp.rollout.min_samples_per_phase

    def _breach(self, st: Status) -> str | None:
        if st.control is None or st.candidate is None:
            return None
        need = self._enough(st)
        if st.control.samples < need or st.candidate.samples < need:
            return None
        failed = [c for c in st.checks if c.passed is False]
        if not failed:
            return None
        return "guardrail breach: " + "; ".join(f"{c.name} {c.detail}" for c in failed)

    def advance(self, experiment_id: str | None = None, *, force: bool = False) -> str:
        """Move to the next phase if the guardrails pass; pause on a breach. Returns what happened."""
        st = self.enforce(experiment_id)
        if st.status == "paused":
            raise ConfigurationError(f"{st.experiment_id} is paused ({st.reason}); resume it first")
        breach = self._breach(st)
        if breach is not None:
            return f"paused: {breach}"
        if not force:
            if st.control is None or st.candidate is None:
                raise ConfigurationError("no metrics source: give --prometheus URL (or --force)")
            need = self._enough(st)
            if min(st.control.samples, st.candidate.samples) < need:
                raise ConfigurationError(
                    f"not enough samples for phase {st.phase}: control {st.control.samples}, "
                    f"candidate {st.candidate.samples}, need {need} each"
                )
            missing = [c.name for c in st.checks if c.passed is None]
            if missing:
                raise ConfigurationError(f"no data for guardrails: {', '.join(missing)}")
        if st.phase + 1 >= len(st.phases):
            return "already at the last phase"
        text, _, i, exp = self._load(st.experiment_id)
        nxt = st.phase + 1
        ro: Loc = ("experiments", i, "rollout")
        status = "done" if nxt == len(st.phases) - 1 and st.phases[nxt] >= 100 else "running"
        edits = [*self._weights(i, exp, st.phases[nxt]), ((*ro, "phase"), nxt), ((*ro, "status"), status)]
        self._write(text, edits)
        return f"advanced to phase {nxt} ({st.phases[nxt]:g} %)"
