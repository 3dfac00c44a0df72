from __future__ import annotations

import os
import subprocess
import sys

import pytest

from otel_llm.errors import ConfigurationError
from otel_llm.redaction import InputTooLongError, PresidioRedactor, Redactor


def test_replace_is_the_default_operator(redactor):
    out = redactor.redact("mail jane.doe@example.org or call +49 30 1234567, card 4111 1111 1111 1111")
    assert out == "mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>, card <CREDIT_CARD>"
    assert isinstance(redactor, Redactor)


def test_invalid_card_number_is_not_a_card(redactor):
    assert "<CREDIT_CARD>" not in redactor.redact("ref 4111 1111 1111 1112 please")


def test_mask_operator_hides_every_character():
    out = PresidioRedactor(operator="mask").redact("key AKIAIOSFODNN7EXAMPLE end")
    assert out == "key " + "*" * 20 + " end"


def test_hmac_operator_is_keyed_and_joinable():
    a = PresidioRedactor(operator="hash", hmac_key="k1")
    b = PresidioRedactor(operator="hash", hmac_key="k2")
    text = "from bob@example.com"
    first, again, other_key = a.redact(text), a.redact("to bob@example.com"), b.redact(text)
    token = first.removeprefix("from ")
    assert token.startswith("<EMAIL_ADDRESS:") and "bob" not in token
    assert again == "to " + token
    assert other_key != first


def test_hash_without_key_is_a_configuration_error(monkeypatch):
    monkeypatch.delenv("OTEL_LLM_REDACTION_HMAC_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="hmac_key"):
        PresidioRedactor(operator="hash")


def test_bad_settings_are_configuration_errors():
    with pytest.raises(ConfigurationError):
        PresidioRedactor(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown"):
        PresidioRedactor(entities=["EMAIL_ADDRESS", "SHOE_SIZE"])


def test_entities_restrict_what_is_redacted():
    out = PresidioRedactor(entities=["EMAIL_ADDRESS"]).redact("a@example.com AKIAIOSFODNN7EXAMPLE")
    assert out == "<EMAIL_ADDRESS> AKIAIOSFODNN7EXAMPLE"


def test_input_above_the_cap_is_refused():
    with pytest.raises(InputTooLongError):
        PresidioRedactor(max_chars=100).redact("x" * 101)


def test_private_key_block_cut_off_is_still_redacted(redactor):
    out = redactor.redact("key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAAAA")
    assert out == "key:\n<PRIVATE_KEY>"


def test_anthropic_key_is_not_reported_as_openai(redactor):
    key = "sk-ant-api03-" + "a" * 40
    assert [f[0] for f in redactor.analyze(key)] == ["ANTHROPIC_API_KEY"]


def test_engine_builds_offline_without_touching_tldextract_network():
    # A fresh interpreter with every network attempt failing loudly: building and using the engine must work.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from otel_llm.redaction import PresidioRedactor\n"
        "print(PresidioRedactor().redact('write to someone@example.co.uk'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLDEXTRACT")}
    env["HOME"] = "/nonexistent-home"  # no cached suffix list either
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "write to <EMAIL_ADDRESS>"
