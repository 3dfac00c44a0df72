"""The public API is small and deliberate: adding or removing a name is a decision, not an accident."""

import otel_llm


def test_exported_members():
    assert otel_llm.__all__ == sorted(otel_llm.__all__)
    assert set(otel_llm.__all__) == {
        "CallInfo",
        "ConfigurationError",
        "Enricher",
        "OtelLLMError",
        "__version__",
        "experiment",
        "httpx_hooks",
        "instrument",
        "instrument_client",
        "instrument_transport",
        "is_instrumented",
        "uninstrument",
    }
    for name in otel_llm.__all__:
        assert hasattr(otel_llm, name)
