"""Pure parsers of LLM wire formats (request/response/SSE/NDJSON bytes -> plain dataclasses)."""
