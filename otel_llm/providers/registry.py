"""Which LLM API, if any, a request goes to: recognised by URL path, named by host.

:func:`match` runs on every HTTP request the app makes, so a miss costs one ``str.endswith`` on a tuple.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from otel_llm.attributes import (
    OP_CHAT,
    OP_EMBEDDINGS,
    OP_GENERATE_CONTENT,
    OP_TEXT_COMPLETION,
    PROVIDER_ANTHROPIC,
    PROVIDER_AZURE_OPENAI,
    PROVIDER_GEMINI,
    PROVIDER_OLLAMA,
    PROVIDER_OPENAI,
)
from otel_llm.providers import anthropic, gemini, ollama, openai
from otel_llm.providers.base import LLMRequest, LLMResponse, StreamParser

__all__ = ["Provider", "clear_cache", "match"]


class _WireFormat(Protocol):
    """What a provider module (openai, anthropic, gemini, ollama) implements."""

    def parse_request(self, body: bytes, *, operation: str, path: str, capture_content: bool) -> LLMRequest: ...

    def parse_response(self, body: bytes, *, operation: str, capture_content: bool) -> LLMResponse: ...

    def stream_parser(self, *, operation: str, capture_content: bool) -> StreamParser: ...

    def is_streaming(self, request: LLMRequest, path: str) -> bool: ...


class Provider:
    """A recognised LLM endpoint: its ``gen_ai.provider.name``, operation and wire-format parsers."""

    __slots__ = ("_impl", "_op", "include_usage", "name", "operation", "wire")

    def __init__(self, name: str, wire: str, op: str, impl: _WireFormat) -> None:
        self.name = name  # gen_ai.provider.name
        self.wire = wire  # "openai", "anthropic", "gemini" or "ollama"
        self.operation = OP_CHAT if op == openai.OP_RESPONSES else op  # gen_ai.operation.name
        # OpenAI-compatible chat/completions streams accept stream_options.include_usage.
        self.include_usage = wire == "openai" and op in (OP_CHAT, OP_TEXT_COMPLETION)
        self._op = op
        self._impl = impl

    def parse_request(self, body: bytes, *, path: str, capture_content: bool) -> LLMRequest:
        return self._impl.parse_request(body, operation=self._op, path=path, capture_content=capture_content)

    def parse_response(self, body: bytes, *, capture_content: bool) -> LLMResponse:
        return self._impl.parse_response(body, operation=self._op, capture_content=capture_content)

    def stream_parser(self, *, capture_content: bool) -> StreamParser:
        return self._impl.stream_parser(operation=self._op, capture_content=capture_content)

    def is_streaming(self, request: LLMRequest, path: str) -> bool:
        return self._impl.is_streaming(request, path)

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, wire={self.wire!r}, operation={self._op!r})"


# Every path we recognise ends with one of these (the query string is not part of the path).
_SUFFIXES = (
    "/completions",  # also /chat/completions
    "/responses",
    "/embeddings",  # also Ollama's /api/embeddings
    "/v1/messages",
    ":generateContent",
    ":streamGenerateContent",
    "/api/chat",
    "/api/generate",
    "/api/embed",
)

_OLLAMA_PORT = 11434
_providers: dict[tuple[str, str, str], Provider] = {}
# Recent hits by (host, port, path, id(provider_hosts)); the mapping comes from frozen settings.
_hits: dict[tuple[str, int | None, str, int], Provider] = {}
_HITS_MAX = 1024


def _route(path: str) -> tuple[str, str, _WireFormat]:
    if path.endswith("/chat/completions"):
        return "openai", OP_CHAT, openai
    if path.endswith("/completions"):
        return "openai", OP_TEXT_COMPLETION, openai
    if path.endswith("/responses"):
        return "openai", openai.OP_RESPONSES, openai
    if path.endswith(("/api/embeddings", "/api/embed")):
        return "ollama", OP_EMBEDDINGS, ollama
    if path.endswith("/embeddings"):
        return "openai", OP_EMBEDDINGS, openai
    if path.endswith("/v1/messages"):
        return "anthropic", OP_CHAT, anthropic
    if path.endswith("/api/chat"):
        return "ollama", OP_CHAT, ollama
    if path.endswith("/api/generate"):
        return "ollama", OP_TEXT_COMPLETION, ollama
    return "gemini", OP_GENERATE_CONTENT, gemini


def _name_for_host(wire: str, host: str, port: int | None) -> str:
    if wire == "anthropic":
        return PROVIDER_ANTHROPIC
    if wire == "gemini":
        return PROVIDER_GEMINI
    if wire == "ollama":
        return PROVIDER_OLLAMA
    host = host.lower().rstrip(".")
    if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")):
        return PROVIDER_AZURE_OPENAI
    if host == "api.anthropic.com":
        return PROVIDER_ANTHROPIC  # Anthropic's OpenAI-compatible endpoint
    if host.endswith(("generativelanguage.googleapis.com", "aiplatform.googleapis.com")):
        return PROVIDER_GEMINI  # Gemini's OpenAI-compatible endpoint
    if port == _OLLAMA_PORT:
        return PROVIDER_OLLAMA  # Ollama's OpenAI-compatible endpoint on its default port
    return PROVIDER_OPENAI


def match(host: str, port: int | None, path: str, provider_hosts: Mapping[str, str] | None = None) -> Provider | None:
    """The provider for a request to ``host:port`` + ``path`` (without query), or None to pass it through.

    ``provider_hosts`` maps ``"host:port"`` or ``"host"`` to the provider name to report for that host (e.g.
    ``{"llm.internal:8000": "vllm"}``); the wire format still comes from the path.
    """
    if not path.endswith(_SUFFIXES):
        return None
    key = (host, port, path, id(provider_hosts))
    hit = _hits.get(key)
    if hit is not None:
        return hit
    try:
        wire, op, impl = _route(path)
        name = None
        if provider_hosts:
            if port is not None:
                name = provider_hosts.get(f"{host}:{port}")
            if name is None:
                name = provider_hosts.get(host)
        if name is None:
            name = _name_for_host(wire, host, port)
        provider = _providers.get((name, wire, op))
        if provider is None:
            provider = _providers[(name, wire, op)] = Provider(name, wire, op, impl)
        if len(_hits) >= _HITS_MAX:
            _hits.clear()
        _hits[key] = provider
    except Exception:
        return None
    return provider


def clear_cache() -> None:
    """Forget recent matches (call when the ``provider_hosts`` mapping in use is replaced)."""
    _hits.clear()
