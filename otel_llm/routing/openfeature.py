"""An OpenFeature provider that serves the router's sticky assignments (SPEC §7.5; extra ``openfeature``).

Apps that already ask OpenFeature which variant a user gets can ask the router instead, and so get exactly the
variant the router would route that subject to::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from otel_llm.routing.openfeature import RouterProvider

    api.set_provider(RouterProvider(router))
    variant = api.get_client().get_string_value("invoice-extractor-ft", "control", EvaluationContext("session-42"))

The flag key is the experiment id, the evaluation context's targeting key is the subject (hashed with the
experiment's salt into the same bucket the router uses). String evaluation returns the variant name; object
evaluation returns the variant's settings (name, weight, and model, base_url, prompt_version when set).

Reasons follow the OpenFeature vocabulary: ``SPLIT`` for a hashed or random assignment, ``DISABLED`` when
the kill switch sends everyone to control. An unknown experiment is ``FLAG_NOT_FOUND``; a missing targeting
key is ``TARGETING_KEY_MISSING`` (unless the experiment assigns ``random``); both answer the caller's default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagMetadata, FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from otel_llm import attributes as A
from otel_llm.routing.config import Experiment
from otel_llm.routing.router import Router

T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


class RouterProvider(AbstractProvider):
    """OpenFeature provider backed by a :class:`~otel_llm.routing.Router` (its file is re-read on change)."""

    def __init__(self, router: Router) -> None:
        super().__init__()
        self.router = router

    def get_metadata(self) -> Metadata:
        return Metadata(name=A.FEATURE_FLAG_PROVIDER)

    # --- the assignment -------------------------------------------------------------------------------------
    def _resolve(
        self, flag_key: str, evaluation_context: EvaluationContext | None
    ) -> tuple[Experiment, str, str, FlagMetadata] | FlagResolutionDetails[None]:
        router = self.router
        router.maybe_reload()
        exp = router.config.get(flag_key)
        if exp is None:
            return FlagResolutionDetails(
                None, ErrorCode.FLAG_NOT_FOUND, f"no experiment {flag_key!r} in the experiments file", Reason.ERROR
            )
        subject = evaluation_context.targeting_key if evaluation_context is not None else None
        meta: dict[str, bool | int | float | str] = {A.LLM_EXPERIMENT_ID: exp.id}
        if not exp.enabled:
            return exp, exp.control_name, Reason.DISABLED, meta
        if exp.assign_by == "random":
            subject = None
        elif not subject:
            return FlagResolutionDetails(
                None,
                ErrorCode.TARGETING_KEY_MISSING,
                f"experiment {exp.id!r} assigns by subject: set the evaluation context's targeting key",
                Reason.ERROR,
            )
        if subject is None:
            meta[A.LLM_SUBJECT_RANDOM] = True
        return exp, router.assign(exp.id, subject), Reason.SPLIT, meta

    def _details(self, experiment: Experiment, name: str) -> dict[str, FlagValueType]:
        v = next(v for v in experiment.variants if v.name == name)
        out: dict[str, FlagValueType] = {"name": v.name, "weight": v.weight}
        for key, value in (("model", v.model), ("base_url", v.base_url), ("prompt_version", v.prompt_version)):
            if value is not None:  # OpenFeature values have no null: an unset field is left out
                out[key] = value
        return out

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        got = self._resolve(flag_key, evaluation_context)
        if isinstance(got, FlagResolutionDetails):
            return _failed(got, default_value)
        exp, name, reason, meta = got
        return FlagResolutionDetails(name, reason=reason, variant=name, flag_metadata=_with_weight(exp, name, meta))

    def resolve_object_details(
        self, flag_key: str, default_value: ObjectValue, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[ObjectValue]:
        got = self._resolve(flag_key, evaluation_context)
        if isinstance(got, FlagResolutionDetails):
            return _failed(got, default_value)
        exp, name, reason, meta = got
        return FlagResolutionDetails(
            self._details(exp, name), reason=reason, variant=name, flag_metadata=_with_weight(exp, name, meta)
        )

    # --- types an experiment does not have --------------------------------------------------------------------
    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return _mismatch(flag_key, default_value)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return _mismatch(flag_key, default_value)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return _mismatch(flag_key, default_value)


def _with_weight(exp: Experiment, name: str, meta: FlagMetadata) -> FlagMetadata:
    weight = next(v.weight for v in exp.variants if v.name == name)
    return {**meta, A.LLM_VARIANT_WEIGHT: 100.0 if not exp.enabled else weight}


def _failed(got: FlagResolutionDetails[None], default_value: T) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(default_value, got.error_code, got.error_message, got.reason)


def _mismatch(flag_key: str, default_value: T) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        default_value,
        ErrorCode.TYPE_MISMATCH,
        f"experiment {flag_key!r} resolves to a variant name (string) or its settings (object)",
        Reason.ERROR,
    )
