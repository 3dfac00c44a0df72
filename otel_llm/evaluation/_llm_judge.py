"""Optional LLM judge through any OpenAI-compatible ``/chat/completions`` endpoint (httpx only here).

The judge model reads a rubric, the reference and the prediction, and answers with a JSON object
``{"label": "pass"|"fail", "reason": "..."}``. Its labels are meant to be checked against human labels with
:func:`otel_llm.evaluation.calibrate` before anyone trusts them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from otel_llm.errors import OtelLLMError

DEFAULT_RUBRIC = (
    "You grade a structured-extraction answer against a reference. Answer 'pass' only if every field of the "
    "prediction means the same as the reference field (formatting differences are fine), and the prediction "
    "fills in no value where the reference is null. Otherwise answer 'fail'."
)
_INSTRUCTION = 'Reply with one JSON object and nothing else: {"label": "pass" or "fail", "reason": "<one sentence>"}.'
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class LLMJudgeError(OtelLLMError, RuntimeError):
    """The judge endpoint failed or answered something that is not a verdict."""


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str
    reason: str


@dataclass
class LLMJudge:
    """Grades predictions with a model behind an OpenAI-compatible API.

    ``base_url`` is the API root (e.g. ``http://localhost:8000/v1``); ``client`` may be passed to reuse
    connections or in tests.
    """

    base_url: str
    model: str
    api_key: str | None = None
    rubric: str = DEFAULT_RUBRIC
    timeout_s: float = 60.0
    temperature: float = 0.0
    client: httpx.Client | None = None

    def messages(self, reference: Mapping[str, Any], prediction: Any, task: str | None = None) -> list[Any]:
        user = {"reference": reference, "prediction": prediction}
        if task is not None:
            user["task"] = task
        return [
            {"role": "system", "content": f"{self.rubric}\n\n{_INSTRUCTION}"},
            {"role": "user", "content": json.dumps(user, ensure_ascii=False, default=str)},
        ]

    def grade(self, reference: Mapping[str, Any], prediction: Any, task: str | None = None) -> Verdict:
        body = {
            "model": self.model,
            "messages": self.messages(reference, prediction, task),
            "temperature": self.temperature,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = self.base_url.rstrip("/") + "/chat/completions"
        client = self.client or httpx.Client(timeout=self.timeout_s)
        try:
            response = client.post(url, json=body, headers=headers)
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LLMJudgeError(f"judge endpoint {url}: {exc}") from exc
        finally:
            if self.client is None:
                client.close()
        return parse_verdict(payload)


def parse_verdict(payload: Any) -> Verdict:
    """Read the verdict out of a chat-completions response body."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMJudgeError("judge response has no choices[0].message.content") from exc
    match = _OBJECT.search(content or "")
    if match is None:
        raise LLMJudgeError(f"judge answer holds no JSON object: {content!r:.200}")
    try:
        answer = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise LLMJudgeError(f"judge answer is not valid JSON: {content!r:.200}") from exc
    label = str(answer.get("label", "")).strip().lower() if isinstance(answer, dict) else ""
    if label not in {"pass", "fail"}:
        raise LLMJudgeError(f"judge label must be 'pass' or 'fail', got {label!r}")
    return Verdict(label=label, reason=str(answer.get("reason", "")))
