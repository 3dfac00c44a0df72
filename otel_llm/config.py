"""Settings resolved once, when ``instrument()`` runs: keyword arguments > environment > defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otel_llm import environment_variables as env
from otel_llm.errors import ConfigurationError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
REDACTION_MODES = ("presidio", "ner")
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the hot path needs, decided at set-up time."""

    capture_content: bool = False
    redaction: str = "presidio"
    redaction_process: bool | None = None  # None: a child process, falling back to a thread if it cannot start
    prices_file: Path | None = None
    provider_hosts: Mapping[str, str] = field(default_factory=dict)
    stream_include_usage: bool = True
    excluded_urls: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use true or false")


def parse_provider_hosts(raw: str) -> dict[str, str]:
    """Parse ``host[:port]=provider,...`` into a mapping, with errors that say which entry is wrong."""
    result: dict[str, str] = {}
    for raw_item in raw.split(","):
        item = raw_item.strip()
        if not item:
            continue
        host, sep, provider = item.partition("=")
        if not sep or not host.strip() or not provider.strip():
            raise ConfigurationError(f"{env.OTEL_LLM_PROVIDER_HOSTS}: entry {item!r} is not 'host[:port]=provider'")
        result[host.strip().lower()] = provider.strip()
    return result


def resolve(
    *,
    capture_content: bool | None = None,
    redaction: str | None = None,
    redaction_process: bool | None = None,
    prices: str | os.PathLike[str] | None = None,
    provider_hosts: Mapping[str, str] | None = None,
    stream_include_usage: bool | None = None,
    excluded_urls: Sequence[str] | None = None,
    max_body_bytes: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings`; raise :class:`ConfigurationError` with an actionable message on bad input."""
    e = os.environ if environ is None else environ

    if capture_content is None:
        capture_content = _bool(env.OTEL_LLM_CAPTURE_CONTENT, e.get(env.OTEL_LLM_CAPTURE_CONTENT, "false"))
    if redaction is None:
        redaction = e.get(env.OTEL_LLM_REDACTION, "presidio").strip().lower() or "presidio"
    if redaction not in REDACTION_MODES:
        raise ConfigurationError(
            f"redaction={redaction!r} is not supported; choose one of {', '.join(REDACTION_MODES)}"
        )
    if redaction_process is None:
        raw_process = e.get(env.OTEL_LLM_REDACTION_PROCESS, "").strip().lower()
        if raw_process not in ("", "auto"):
            redaction_process = _bool(env.OTEL_LLM_REDACTION_PROCESS, raw_process)
    elif not isinstance(redaction_process, bool):
        raise ConfigurationError(f"redaction_process={redaction_process!r} is not a boolean; use True or False")
    if prices is None:
        prices = e.get(env.OTEL_LLM_PRICES_FILE) or None
    prices_path = Path(prices) if prices is not None else None
    if prices_path is not None and not prices_path.is_file():
        raise ConfigurationError(f"prices file {str(prices_path)!r} does not exist")
    if provider_hosts is None:
        hosts = parse_provider_hosts(e.get(env.OTEL_LLM_PROVIDER_HOSTS, ""))
    else:
        hosts = {str(k).lower(): str(v) for k, v in provider_hosts.items()}
    if stream_include_usage is None:
        stream_include_usage = _bool(
            env.OTEL_LLM_STREAM_INCLUDE_USAGE, e.get(env.OTEL_LLM_STREAM_INCLUDE_USAGE, "true")
        )
    if excluded_urls is None:
        excluded = tuple(s.strip() for s in e.get(env.OTEL_LLM_EXCLUDED_URLS, "").split(",") if s.strip())
    else:
        excluded = tuple(excluded_urls)
    if max_body_bytes is None:
        raw = e.get(env.OTEL_LLM_MAX_BODY_BYTES, "")
        try:
            max_body_bytes = int(raw) if raw.strip() else DEFAULT_MAX_BODY_BYTES
        except ValueError:
            raise ConfigurationError(f"{env.OTEL_LLM_MAX_BODY_BYTES}={raw!r} is not an integer") from None
    if max_body_bytes <= 0:
        raise ConfigurationError("max_body_bytes must be positive")
    return Settings(
        capture_content=capture_content,
        redaction=redaction,
        redaction_process=redaction_process,
        prices_file=prices_path,
        provider_hosts=hosts,
        stream_include_usage=stream_include_usage,
        excluded_urls=excluded,
        max_body_bytes=max_body_bytes,
    )
