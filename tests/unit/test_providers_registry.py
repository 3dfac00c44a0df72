"""registry.match: provider recognised by path, named by host; everything else passes through."""

from __future__ import annotations

import pytest

from otel_llm.providers.registry import match


@pytest.mark.parametrize(
    ("host", "port", "path", "name", "wire", "operation"),
    [
        ("api.openai.com", 443, "/v1/chat/completions", "openai", "openai", "chat"),
        ("api.openai.com", 443, "/v1/completions", "openai", "openai", "text_completion"),
        ("api.openai.com", 443, "/v1/responses", "openai", "openai", "chat"),
        ("api.openai.com", 443, "/v1/embeddings", "openai", "openai", "embeddings"),
        (
            "myres.openai.azure.com",
            443,
            "/openai/deployments/gpt4o/chat/completions",
            "azure.ai.openai",
            "openai",
            "chat",
        ),
        ("MyRes.OpenAI.Azure.com", 443, "/openai/v1/embeddings", "azure.ai.openai", "openai", "embeddings"),
        ("openrouter.ai", 443, "/api/v1/chat/completions", "openai", "openai", "chat"),
        ("localhost", 1234, "/v1/chat/completions", "openai", "openai", "chat"),  # LM Studio without a mapping
        ("localhost", 11434, "/v1/chat/completions", "ollama", "openai", "chat"),  # Ollama's OpenAI endpoint
        ("api.anthropic.com", 443, "/v1/messages", "anthropic", "anthropic", "chat"),
        ("api.anthropic.com", 443, "/v1/chat/completions", "anthropic", "openai", "chat"),
        (
            "generativelanguage.googleapis.com",
            443,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "gcp.gemini",
            "gemini",
            "generate_content",
        ),
        (
            "us-central1-aiplatform.googleapis.com",
            443,
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent",
            "gcp.gemini",
            "gemini",
            "generate_content",
        ),
        ("generativelanguage.googleapis.com", 443, "/v1beta/openai/chat/completions", "gcp.gemini", "openai", "chat"),
        ("localhost", 11434, "/api/chat", "ollama", "ollama", "chat"),
        ("ollama.internal", 80, "/api/generate", "ollama", "ollama", "text_completion"),
        ("localhost", 11434, "/api/embed", "ollama", "ollama", "embeddings"),
        ("localhost", 11434, "/api/embeddings", "ollama", "ollama", "embeddings"),
    ],
)
def test_recognised(host: str, port: int, path: str, name: str, wire: str, operation: str) -> None:
    p = match(host, port, path, None)
    assert p is not None
    assert (p.name, p.wire, p.operation) == (name, wire, operation)
    assert match(host, port, path, None) is p  # cached


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1/models",
        "/v1/chat/completions/abc",
        "/v1/responses/resp_1",
        "/v1/messages/count_tokens",
        "/v1/files",
        "/api/tags",
        "/v1beta/models/gemini-2.0-flash:countTokens",
        "/healthz",
        "",
    ],
)
def test_unknown_paths_pass_through(path: str) -> None:
    assert match("api.openai.com", 443, path, None) is None


def test_provider_hosts_by_host_port_then_host() -> None:
    hosts = {"llm.internal:8000": "vllm", "bifrost.local": "bifrost"}
    p = match("llm.internal", 8000, "/v1/chat/completions", hosts)
    assert p is not None and (p.name, p.include_usage) == ("vllm", True)
    p = match("llm.internal", 9000, "/v1/chat/completions", hosts)
    assert p is not None and p.name == "openai"
    p = match("bifrost.local", 8080, "/v1/completions", hosts)
    assert p is not None and (p.name, p.operation) == ("bifrost", "text_completion")
    p = match("bifrost.local", None, "/v1/embeddings", hosts)
    assert p is not None and (p.name, p.include_usage) == ("bifrost", False)


def test_include_usage_only_for_openai_chat_and_completions() -> None:
    flags = {
        path: getattr(match("api.openai.com", 443, path, None), "include_usage", None)
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings")
    }
    assert flags == {
        "/v1/chat/completions": True,
        "/v1/completions": True,
        "/v1/responses": False,
        "/v1/embeddings": False,
    }
    p = match("api.anthropic.com", 443, "/v1/messages", None)
    assert p is not None and p.include_usage is False


def test_provider_delegates_to_its_wire_format() -> None:
    p = match("generativelanguage.googleapis.com", 443, "/v1beta/models/gemini-2.0-flash:streamGenerateContent", None)
    assert p is not None
    req = p.parse_request(b"{}", path="/v1beta/models/gemini-2.0-flash:streamGenerateContent", capture_content=False)
    assert (req.model, req.operation) == ("gemini-2.0-flash", "generate_content")
    assert p.is_streaming(req, "/v1beta/models/gemini-2.0-flash:streamGenerateContent") is True
    sp = p.stream_parser(capture_content=False)
    assert sp.feed(b'data: {"candidates":[{"content":{"parts":[{"text":"x"}]}}]}\n\n') is True
    assert p.parse_response(b'{"modelVersion":"g"}', capture_content=False).model == "g"
    o = match("localhost", 11434, "/api/chat", None)
    assert o is not None
    oreq = o.parse_request(b'{"model":"llama3.2","messages":[]}', path="/api/chat", capture_content=False)
    assert o.is_streaming(oreq, "/api/chat") is True
