from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from otel_llm.cli import _register_all, app
from otel_llm.redaction._collector import blocked_values, collector_processor_yaml

runner = CliRunner()
_register_all()
SNIPPET = Path(__file__).resolve().parents[2] / "collector" / "redaction-snippet.yaml"


def test_redact_prints_the_redacted_text():
    result = runner.invoke(app, ["redact", "mail bob@example.com, token ghp_" + "a" * 36])
    assert result.exit_code == 0, result.output
    assert result.output == "mail <EMAIL_ADDRESS>, token <GITHUB_TOKEN>\n"


def test_redact_reads_stdin_and_prints_json():
    result = runner.invoke(app, ["redact", "-", "--json"], input="ssn 078-05-1121 ok")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["redacted"] == "ssn <US_SSN> ok"
    assert "US_SSN" in [e["entity_type"] for e in payload["entities"]]


def test_redact_mask_operator_and_bad_operator():
    assert runner.invoke(app, ["redact", "--operator", "mask", "x@example.com"]).output == "*" * 13 + "\n"
    bad = runner.invoke(app, ["redact", "--operator", "rot13", "x"])
    assert bad.exit_code == 2


def test_collector_snippet_is_current():
    assert SNIPPET.read_text() == collector_processor_yaml()
    result = runner.invoke(app, ["redact", "--collector-config"])
    assert result.output == SNIPPET.read_text()


def test_collector_patterns_are_re2_compatible_and_match_what_the_sdk_redacts():
    samples = {
        "OPENAI_API_KEY": "sk-proj-" + "a1" * 20,
        "ANTHROPIC_API_KEY": "sk-ant-api03-" + "b" * 40,
        "GOOGLE_API_KEY": "AIza" + "c" * 35,
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key = " + "d" * 40,
        "GITHUB_TOKEN": "ghp_" + "e" * 36,
        "SLACK_TOKEN": "xoxb-1234567890-abcdefghij",
        "STRIPE_KEY": "sk_live_" + "f" * 24,
        "BEARER_TOKEN": "Bearer " + "g" * 30,
        "JWT": "eyJhbGciOi.eyJzdWIiOi.abc",
        "PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
        "URL_CREDENTIALS": "postgres://u:p@db.example.com",
        "EMAIL_ADDRESS": "a@example.com",
        "CREDIT_CARD": "4111 1111 1111 1111",
        "IBAN_CODE": "DE89370400440532013000",
        "US_SSN": "078-05-1121",
        "IP_ADDRESS": "192.168.1.20",
        "PHONE_NUMBER": "+44 20 7946 0958",
    }
    for entity, regex in blocked_values():
        assert "(?=" not in regex and "(?!" not in regex and "(?<" not in regex, entity  # RE2: no look-arounds
        python = regex.replace(r"\z", r"\Z")
        assert re.search(python, samples[entity]), entity
