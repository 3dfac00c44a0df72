"""Calibrating an LLM judge against human labels: agreement, Cohen's kappa, confusion matrix (SPEC §10)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PASS_AGREEMENT = 0.90
"""An LLM judge passes calibration at this observed agreement with the human labels or above."""


@dataclass(frozen=True)
class CalibrationResult:
    """How well judge labels agree with human labels on the ids both files share."""

    n: int
    agreement: float
    kappa: float | None  # None when chance agreement is 1 (a single label everywhere): kappa is undefined
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: human label, columns: judge label, in ``labels`` order
    n_judge_only: int = 0
    n_human_only: int = 0
    threshold: float = PASS_AGREEMENT

    @property
    def passed(self) -> bool:
        return self.agreement >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "kappa": self.kappa,
            "passed": self.passed,
            "threshold": self.threshold,
            "labels": list(self.labels),
            "confusion_matrix": {
                "rows": "human",
                "columns": "judge",
                "matrix": [list(row) for row in self.confusion],
            },
            "n_judge_only": self.n_judge_only,
            "n_human_only": self.n_human_only,
        }


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of ``(human, judge)`` label pairs: (p_o − p_e) / (1 − p_e)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(human == judged for human, judged in pairs) / n
    human_counts = Counter(human for human, _ in pairs)
    judge_counts = Counter(judged for _, judged in pairs)
    expected = sum(human_counts[label] * judge_counts[label] for label in human_counts) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def calibrate(
    judge_labels: Mapping[str, str], human_labels: Mapping[str, str], *, threshold: float = PASS_AGREEMENT
) -> CalibrationResult:
    """Compare labels on the shared ids; raises ``ValueError`` when the files share no id."""
    shared = [record_id for record_id in human_labels if record_id in judge_labels]
    if not shared:
        raise ValueError("the judge and human label files have no id in common")
    pairs = [(human_labels[record_id], judge_labels[record_id]) for record_id in shared]
    labels = tuple(sorted({label for pair in pairs for label in pair}))
    index = {label: position for position, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for human, judged in pairs:
        matrix[index[human]][index[judged]] += 1
    agreement = sum(human == judged for human, judged in pairs) / len(pairs)
    return CalibrationResult(
        n=len(pairs),
        agreement=agreement,
        kappa=cohen_kappa(pairs),
        labels=labels,
        confusion=tuple(tuple(row) for row in matrix),
        n_judge_only=sum(1 for record_id in judge_labels if record_id not in human_labels),
        n_human_only=len(human_labels) - len(shared),
        threshold=threshold,
    )
