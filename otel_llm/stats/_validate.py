"""Argument checks shared by the statistics functions; each raises ``ValueError`` with an actionable
message."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def check_probability(name: str, value: float, *, open_low: bool = True, open_high: bool = True) -> None:
    """Reject values outside (0, 1) (or the half-closed variants) and NaN."""
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (math.isfinite(value) and low_ok and high_ok):
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise ValueError(f"{name} must be in {lo}0, 1{hi}, got {value!r}")


def check_confidence(confidence: float) -> None:
    """Confidence levels live strictly between 0 and 1 (0.95, not 95)."""
    if not (math.isfinite(confidence) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence!r}")


def check_counts(successes: int, n: int, label: str = "") -> None:
    """``0 <= successes <= n`` with integer-valued counts."""
    where = f" ({label})" if label else ""
    if int(successes) != successes or int(n) != n:
        raise ValueError(f"counts must be whole numbers{where}, got successes={successes!r}, n={n!r}")
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n{where}, got successes={successes!r}, n={n!r}")


def as_sample(values: Sequence[float] | npt.ArrayLike, name: str, minimum: int = 1) -> npt.NDArray[np.float64]:
    """A finite 1-D float array with at least ``minimum`` values."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size < minimum:
        raise ValueError(f"{name} needs at least {minimum} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array
