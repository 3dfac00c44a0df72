"""What we redact, as data: entity names, secret patterns, prefilter triggers and Collector (RE2) patterns.

No Presidio import here: `_presidio.py` turns the rules into Presidio recognisers, `_collector.py` turns the
RE2 versions into a Collector ``redaction`` processor. Two regex columns because the engines differ: Presidio
runs the ``regex`` module (look-behind allowed), the Collector runs Go's RE2 (no look-arounds, ``\\z`` for the
end of the text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Pattern (PII) entities: Presidio's own recognisers, validated (Luhn, IBAN checksum, phone metadata).
EMAIL: Final = "EMAIL_ADDRESS"
PHONE: Final = "PHONE_NUMBER"
CREDIT_CARD: Final = "CREDIT_CARD"
IBAN: Final = "IBAN_CODE"
IP: Final = "IP_ADDRESS"
US_SSN: Final = "US_SSN"
URL_CREDENTIALS: Final = "URL_CREDENTIALS"

# Secrets Presidio has no recogniser for.
OPENAI_KEY: Final = "OPENAI_API_KEY"
ANTHROPIC_KEY: Final = "ANTHROPIC_API_KEY"
GOOGLE_KEY: Final = "GOOGLE_API_KEY"
AWS_ACCESS_KEY_ID: Final = "AWS_ACCESS_KEY_ID"
AWS_SECRET_KEY: Final = "AWS_SECRET_ACCESS_KEY"
GITHUB_TOKEN: Final = "GITHUB_TOKEN"
SLACK_TOKEN: Final = "SLACK_TOKEN"
STRIPE_KEY: Final = "STRIPE_KEY"
BEARER_TOKEN: Final = "BEARER_TOKEN"
JWT: Final = "JWT"
PRIVATE_KEY: Final = "PRIVATE_KEY"

# NER entities (opt-in mode).
PERSON: Final = "PERSON"
LOCATION: Final = "LOCATION"
ORGANIZATION: Final = "ORGANIZATION"


@dataclass(frozen=True, slots=True)
class SecretRule:
    """One secret format.

    ``regex`` is what Presidio runs (``regex`` module, case-sensitive unless ``ignore_case``); ``re2`` is the
    Collector's version of the same rule. ``triggers`` are lower-case substrings of which at least one must
    occur in the lower-cased text for the rule to be able to match at all (the prefilter).
    """

    entity: str
    regex: str
    re2: str
    triggers: tuple[str, ...]
    score: float = 0.95
    ignore_case: bool = False
    # Rules whose regex is slow on long texts (look-behinds) run only this many characters around a trigger.
    window: int | None = None


SECRET_RULES: Final[tuple[SecretRule, ...]] = (
    SecretRule(
        ANTHROPIC_KEY,
        r"\bsk-ant-[A-Za-z0-9]{2,12}-[A-Za-z0-9_\-]{20,}",
        r"\bsk-ant-[A-Za-z0-9]{2,12}-[A-Za-z0-9_\-]{20,}",
        ("sk-ant-",),
        score=0.99,
    ),
    SecretRule(
        OPENAI_KEY,
        r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}",
        r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}",
        ("sk-",),
    ),
    SecretRule(GOOGLE_KEY, r"\bAIza[0-9A-Za-z_\-]{35}", r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),
    SecretRule(
        AWS_ACCESS_KEY_ID,
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
        ("akia", "asia", "abia", "acca", "a3t"),
    ),
    SecretRule(
        AWS_SECRET_KEY,
        # The key itself only (look-behind on its label), so the label stays readable.
        r"(?<=aws.{0,24}(?:secret|key).{0,24}?[\s=:\"'`]{1,6})[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
        r"(?i)aws.{0,24}(?:secret|key).{0,24}?[\s=:\"'`]{1,6}[A-Za-z0-9/+]{40}",
        ("aws",),
        ignore_case=True,
        window=120,
    ),
    SecretRule(
        GITHUB_TOKEN,
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretRule(
        SLACK_TOKEN,
        r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
        r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
        ("xox",),
    ),
    SecretRule(
        STRIPE_KEY,
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        ("k_live_", "k_test_"),
    ),
    SecretRule(
        BEARER_TOKEN,
        r"(?<=\bbearer\s{1,4})[A-Za-z0-9\-._~+/]{16,}=*",
        r"(?i)\bbearer\s{1,4}[A-Za-z0-9\-._~+/]{16,}=*",
        ("bearer",),
        ignore_case=True,
        window=24,
    ),
    SecretRule(
        JWT,
        r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
        r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
        ("eyj",),
    ),
    SecretRule(
        PRIVATE_KEY,
        # Up to the END line, or to the end of the text when the block was cut off.
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\z)",
        ("-----begin",),
        score=1.0,
    ),
    SecretRule(
        URL_CREDENTIALS,
        r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@\"'<>]+(?::[^\s/@\"'<>]*)?@[A-Za-z0-9.\-\[\]:]+",
        r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@\"'<>]+(?::[^\s/@\"'<>]*)?@[A-Za-z0-9.\-\[\]:]+",
        ("://",),
        score=0.9,
    ),
)

SECRET_ENTITIES: Final = tuple(rule.entity for rule in SECRET_RULES if rule.entity != URL_CREDENTIALS)
PATTERN_ENTITIES: Final = (EMAIL, PHONE, CREDIT_CARD, IBAN, IP, US_SSN, URL_CREDENTIALS)
NER_ENTITIES: Final = (PERSON, LOCATION, ORGANIZATION)
DEFAULT_ENTITIES: Final = PATTERN_ENTITIES + SECRET_ENTITIES

# The Collector has no Luhn/IBAN/phone validation: its PII patterns are deliberately broad, which suits a
# safety net behind the SDK's validated redaction.
PII_RE2: Final[dict[str, str]] = {
    EMAIL: r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    CREDIT_CARD: r"\b(?:\d[ \-]?){12,18}\d\b",
    IBAN: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
    US_SSN: r"\b\d{3}[\- .]\d{2}[\- .]\d{4}\b",
    IP: r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
    r"|\b(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?::[0-9A-Fa-f]{1,4}){0,5}\b",
    PHONE: r"(?:\+|\b00)\d{1,3}[ .\-]?(?:\(0\)[ .\-]?)?\(?\d{1,5}\)?(?:[ .\-]?\d{2,5}){1,4}\b"
    r"|\(?\b\d{2,5}\)?[ .\-]\d{2,4}[ .\-]\d{2,4}(?:[ .\-]\d{2,4})?\b",
}
