"""A seeded, generated corpus of chat-like texts with gold spans for every pattern entity and secret type.

Faker in four locales writes the prose and the PII (names, e-mails, phones, cards, IBANs, IPs); secrets are
made in their real formats from the same seeded generator. Distractors (order numbers, prices, dates, versions)
keep precision honest. Used by the recall tests and by ``benchmarks/redaction_throughput.py``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from faker import Faker

from otel_llm.redaction import _rules as R

LOCALES = ("en_US", "de_DE", "fr_FR", "en_GB")
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


@dataclass
class Text:
    text: str
    locale: str
    gold: list[tuple[str, int, int]] = field(default_factory=list)  # (entity, start, end)

    def values(self) -> list[tuple[str, str]]:
        return [(entity, self.text[start:end]) for entity, start, end in self.gold]


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _grouped(value: str, rng: random.Random, size: int = 4) -> str:
    style = rng.random()
    if style < 0.5:
        return value
    sep = " " if style < 0.8 else "-"
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


def _secret_makers(rng: random.Random) -> dict[str, Callable[[], tuple[str, str, str]]]:
    """entity -> () -> (prefix text, secret, suffix text); the secret alone is the gold span."""

    def openai() -> tuple[str, str, str]:
        head = rng.choice(["sk-", "sk-proj-", "sk-svcacct-"])
        return "OPENAI_API_KEY=", head + _rand(rng, B64URL, rng.choice([32, 48, 120])), ""

    def anthropic() -> tuple[str, str, str]:
        return "the Anthropic key is ", "sk-ant-api03-" + _rand(rng, B64URL, 93) + "AA", ""

    def google() -> tuple[str, str, str]:
        return "?key=", "AIza" + _rand(rng, B64URL, 35), ""

    def aws_id() -> tuple[str, str, str]:
        return (
            "aws_access_key_id = ",
            rng.choice(["AKIA", "ASIA"]) + _rand(rng, string.ascii_uppercase + "234567", 16),
            "",
        )

    def aws_secret() -> tuple[str, str, str]:
        label = rng.choice(["aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=", 'aws secret key: "'])
        return label, _rand(rng, ALNUM + "/+", 40), '"' if label.endswith('"') else ""

    def github() -> tuple[str, str, str]:
        token = rng.choice(
            [
                lambda: "ghp_" + _rand(rng, ALNUM, 36),
                lambda: "gho_" + _rand(rng, ALNUM, 36),
                lambda: "github_pat_" + _rand(rng, ALNUM, 22) + "_" + _rand(rng, ALNUM, 59),
            ]
        )()
        return "git token ", token, ""

    def slack() -> tuple[str, str, str]:
        kind = rng.choice("abprs")
        return (
            "SLACK_TOKEN=",
            f"xox{kind}-{rng.randint(10**10, 10**12)}-{rng.randint(10**10, 10**12)}-" + _rand(rng, ALNUM, 24),
            "",
        )

    def stripe() -> tuple[str, str, str]:
        return (
            "stripe: ",
            rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + _rand(rng, ALNUM, rng.choice([24, 99])),
            "",
        )

    def bearer() -> tuple[str, str, str]:
        return "Authorization: Bearer ", _rand(rng, ALNUM + "-._~+/", rng.choice([24, 40, 64])), ""

    def jwt() -> tuple[str, str, str]:
        parts = [
            "eyJ" + _rand(rng, B64URL, 33),
            "eyJ" + _rand(rng, B64URL, rng.randint(40, 120)),
            _rand(rng, B64URL, 43),
        ]
        return "token=", ".".join(parts), ""

    def pem() -> tuple[str, str, str]:
        kind = rng.choice(["", "RSA ", "EC ", "OPENSSH "])
        body = "\n".join(_rand(rng, ALNUM + "+/", 64) for _ in range(rng.randint(3, 8)))
        return "key:\n", f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----", "\n"

    return {
        R.OPENAI_KEY: openai,
        R.ANTHROPIC_KEY: anthropic,
        R.GOOGLE_KEY: google,
        R.AWS_ACCESS_KEY_ID: aws_id,
        R.AWS_SECRET_KEY: aws_secret,
        R.GITHUB_TOKEN: github,
        R.SLACK_TOKEN: slack,
        R.STRIPE_KEY: stripe,
        R.BEARER_TOKEN: bearer,
        R.JWT: jwt,
        R.PRIVATE_KEY: pem,
    }


def _pii_makers(fake: Faker, us: Faker, rng: random.Random) -> dict[str, Callable[[], tuple[str, str, str]]]:
    def email() -> tuple[str, str, str]:
        value = rng.choice([fake.email, fake.free_email, fake.company_email])()
        return rng.choice(["write to ", "my e-mail is ", "cc: ", "contact "]), value, ""

    def phone() -> tuple[str, str, str]:
        return rng.choice(["call me on ", "phone: ", "reach the office at ", "mobile "]), fake.phone_number(), ""

    def card() -> tuple[str, str, str]:
        return rng.choice(["card number ", "charge ", "my card is "]), _grouped(fake.credit_card_number(), rng), ""

    def iban() -> tuple[str, str, str]:
        value = fake.iban()
        return (
            rng.choice(["IBAN ", "wire it to ", "account: "]),
            _grouped(value, rng) if rng.random() < 0.5 else value,
            "",
        )

    def ip() -> tuple[str, str, str]:
        value = rng.choice([fake.ipv4, fake.ipv4_private, fake.ipv6])()
        return rng.choice(["from host ", "client ip ", "the server at "]), value, ""

    def ssn() -> tuple[str, str, str]:
        return rng.choice(["SSN ", "social security number ", "ssn: "]), us.ssn(), ""

    def url_credentials() -> tuple[str, str, str]:
        scheme = rng.choice(["https", "postgres", "mysql", "redis", "ftp", "amqp"])
        user = fake.user_name()
        password = fake.password(length=rng.randint(8, 16), special_chars=False)
        host = fake.domain_name()
        port = rng.choice(["", f":{rng.randint(1024, 65535)}"])
        return "connect with ", f"{scheme}://{user}:{password}@{host}{port}", f"/{fake.word()}"

    return {
        R.EMAIL: email,
        R.PHONE: phone,
        R.CREDIT_CARD: card,
        R.IBAN: iban,
        R.IP: ip,
        R.US_SSN: ssn,
        R.URL_CREDENTIALS: url_credentials,
    }


def _distractor(fake: Faker, rng: random.Random) -> str:
    return rng.choice(
        [
            lambda: f"Order #{rng.randint(1000, 99999)} ships on {fake.date()}.",
            lambda: f"The total is {rng.randint(10, 9999)}.{rng.randint(10, 99)} EUR for {rng.randint(2, 40)} items.",
            lambda: (
                f"We upgraded to version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)} at {fake.time()}."
            ),
            lambda: f"Meeting in room {rng.randint(100, 999)} on floor {rng.randint(1, 30)}.",
            lambda: f"See ticket {fake.bothify('??-####').upper()} and the notes from {fake.day_of_week()}.",
        ]
    )()


ENTITIES = R.PATTERN_ENTITIES + R.SECRET_ENTITIES
NER_GOLD = (R.PERSON, R.LOCATION, R.ORGANIZATION)


def generate(n: int = 1200, seed: int = 20261130, per_text: int = 3, target_tokens: int = 0) -> list[Text]:
    """``n`` texts; each carries ``per_text`` planted entities (cycling so every entity gets ~equal counts),
    one name, one city and one company (NER gold), prose and distractors. ``target_tokens`` pads each text with
    more prose up to about that many whitespace tokens."""
    rng = random.Random(seed)
    fakers = {}
    for i, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed + i)
        fakers[locale] = fake
    us = Faker("en_US")
    us.seed_instance(seed + 99)
    secrets = _secret_makers(rng)
    pii = {locale: _pii_makers(fake, us, rng) for locale, fake in fakers.items()}
    order = list(ENTITIES)
    texts: list[Text] = []
    cursor = 0
    for index in range(n):
        locale = LOCALES[index % len(LOCALES)]
        fake = fakers[locale]
        makers = {**pii[locale], **secrets}
        pieces: list[tuple[str, str | None]] = []
        person, city, company = fake.name(), fake.city(), fake.company()
        pieces += [("Hi, this is ", None), (person, R.PERSON), (" from ", None), (company, R.ORGANIZATION)]
        pieces += [(" in ", None), (city, R.LOCATION), (". ", None), (fake.sentence(nb_words=12) + " ", None)]
        for _ in range(per_text):
            entity = order[cursor % len(order)]
            cursor += 1
            before, value, after = makers[entity]()
            pieces += [(before, None), (value, entity), (after + ". ", None)]
            if rng.random() < 0.5:
                pieces.append((_distractor(fake, rng) + " ", None))
            pieces.append((fake.sentence(nb_words=rng.randint(6, 16)) + " ", None))
        pieces.append((fake.paragraph(nb_sentences=2), None))
        text = Text("", locale)
        chunks: list[str] = []
        offset = 0
        for piece, entity in pieces:
            if entity is not None:
                text.gold.append((entity, offset, offset + len(piece)))
            chunks.append(piece)
            offset += len(piece)
        while target_tokens and sum(len(c.split()) for c in chunks) < target_tokens:
            extra = " " + fake.sentence(nb_words=14)
            chunks.append(extra)
        text.text = "".join(chunks)
        texts.append(text)
    return texts


@dataclass
class Score:
    gold: int = 0
    covered: int = 0  # every character of the gold span is inside some finding (of any type): not leaked
    typed: int = 0  # ... inside findings of the same entity type
    predicted: int = 0
    true_predicted: int = 0  # findings of this type that overlap a gold span

    @property
    def recall(self) -> float:
        return self.covered / self.gold if self.gold else float("nan")

    @property
    def typed_recall(self) -> float:
        return self.typed / self.gold if self.gold else float("nan")

    @property
    def precision(self) -> float:
        return self.true_predicted / self.predicted if self.predicted else float("nan")

    def f2(self) -> float:
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p + r else 0.0


def _covered(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    position = start
    for lo, hi in sorted(spans):
        if lo <= position < hi:
            position = hi
        if position >= end:
            return True
    return position >= end


def score(corpus: list[Text], findings: list[list[tuple[str, int, int]]]) -> dict[str, Score]:
    """Per-entity recall (covered and typed) and precision of ``findings`` (one list per text) on ``corpus``."""
    scores: dict[str, Score] = {}
    for text, found in zip(corpus, findings, strict=True):
        everything = [(s, e) for _, s, e in found]
        for entity, start, end in text.gold:
            sc = scores.setdefault(entity, Score())
            sc.gold += 1
            sc.covered += _covered(start, end, everything)
            sc.typed += _covered(start, end, [(s, e) for t, s, e in found if t == entity])
        for entity, start, end in found:
            sc = scores.setdefault(entity, Score())
            sc.predicted += 1
            sc.true_predicted += any(start < ge and gs < end for _, gs, ge in text.gold)
    return scores
