"""Declared value normalisation for the strict judge (SPEC §15 "Judge").

A field's normalisation is a list of named steps declared in the schema file, applied in order. Nothing is
guessed: a field without declared steps is compared exactly, except that an empty or whitespace-only string is
null by default (``strict_empty=True`` keeps it as a value).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

_WHITESPACE = re.compile(r"\s+")
# ISO 4217 codes people write next to amounts; symbols are found by Unicode category (Sc).
_CURRENCY_CODE = re.compile(
    r"(?<![A-Za-z])(USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|CNY|INR|SEK|NOK|DKK|PLN|CZK|HUF|BRL|MXN|ZAR|SGD|HKD|KRW)"
    r"(?![A-Za-z])",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?([eE][+-]?\d+)?")


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _whitespace(value: Any) -> Any:
    return _WHITESPACE.sub(" ", value).strip() if isinstance(value, str) else value


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _currency(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    symbols_removed = "".join(char for char in value if unicodedata.category(char) != "Sc")
    return _CURRENCY_CODE.sub("", symbols_removed).strip()


def _number(value: Any) -> Any:
    """``"1,234.50"``, ``"1234.5"``, ``1234.5`` and ``"(12.00)"`` (accounting negative) become Decimals."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:  # nan / inf
            return value
    if not isinstance(value, str):
        return value
    text = value.strip().replace(" ", "").replace("_", "").replace("\u00a0", "")
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    if not _NUMBER.fullmatch(text):
        return value
    number = Decimal(text.replace(",", ""))
    return (-number if negative else number).normalize()


def _date(value: Any) -> Any:
    """ISO 8601 dates; a date-time is reduced to its date (in UTC when it carries an offset)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _datetime(value: Any) -> Any:
    """ISO 8601 date-times, compared as instants (naive values are taken as UTC)."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


STEPS: Final[dict[str, Callable[[Any], Any]]] = {
    "trim": _trim,
    "whitespace": _whitespace,
    "casefold": _casefold,
    "currency": _currency,
    "number": _number,
    "date": _date,
    "datetime": _datetime,
}
"""Every normalisation step a schema may declare, by name."""


def is_null(value: Any, *, strict_empty: bool = False) -> bool:
    """Null after default normalisation: ``None``, or (unless ``strict_empty``) an empty/blank string."""
    if value is None:
        return True
    return not strict_empty and isinstance(value, str) and not value.strip()


def normalise(value: Any, steps: Sequence[str], *, strict_empty: bool = False) -> Any:
    """Apply the declared ``steps`` to ``value``; null-like values come back as ``None``."""
    if is_null(value, strict_empty=strict_empty):
        return None
    for step in steps:
        value = STEPS[step](value)
    if isinstance(value, list):
        return [normalise(item, steps, strict_empty=strict_empty) for item in value]
    return value
