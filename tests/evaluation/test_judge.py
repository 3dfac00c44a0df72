"""The strict judge on hand-made edge cases, calibration against hand computation, and the LLM judge."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otel_llm.cli import _register_all, app
from otel_llm.evaluation import LLMJudge, calibrate, judge, judge_record, schema_from_mapping

SCHEMA = schema_from_mapping(
    {
        "type": "object",
        "properties": {
            "vendor": {"type": ["string", "null"], "x-normalise": ["whitespace", "casefold"]},
            "total": {"type": ["number", "string", "null"], "x-normalise": ["currency", "number"]},
            "issue_date": {"type": ["string", "null"], "x-normalise": ["date"]},
            "po_number": {"type": ["string", "null"]},
        },
        "required": ["vendor", "total"],
        "additionalProperties": False,
    }
)


def _by_name(result):
    return {outcome.name: outcome for outcome in result.fields}


def test_declared_normalisation_numbers_dates_currency_case() -> None:
    reference = {"vendor": "ACME  Corp", "total": 1234.5, "issue_date": "2025-03-05", "po_number": None}
    prediction = {"vendor": " acme corp ", "total": "$1,234.50", "issue_date": "2025-03-05T00:00:00", "po_number": None}
    result = judge_record(prediction, reference, SCHEMA)
    assert all(outcome.correct for outcome in result.fields)
    assert judge_record({**prediction, "total": "EUR 1234.5"}, reference, SCHEMA).n_correct == 4
    assert not _by_name(judge_record({**prediction, "total": "1,234.51"}, reference, SCHEMA))["total"].correct


def test_normalisation_is_declared_never_guessed() -> None:
    # po_number declares nothing: case and padding differences are errors there.
    result = judge_record({"po_number": "po-1"}, {"po_number": "PO-1"}, SCHEMA)
    assert not _by_name(result)["po_number"].correct
    # no schema at all: numbers given as text are not parsed
    assert not judge_record({"total": "1,234.50"}, {"total": 1234.5}).fields[0].correct


def test_null_empty_string_and_missing_key() -> None:
    reference = {"vendor": None, "total": 10, "po_number": ""}
    # missing key == null, blank string == null: all null-reference fields are correct, none hallucinated
    result = judge_record({"total": 10, "vendor": "   "}, reference, SCHEMA)
    assert result.n_correct == 4 and result.n_hallucinated == 0 and result.n_null_fields == 3
    strict = judge_record({"total": 10, "vendor": "   "}, reference, SCHEMA, strict_empty=True)
    assert _by_name(strict)["vendor"].hallucinated  # with strict_empty the blank string is a value
    assert not _by_name(strict)["po_number"].correct  # reference "" is a value, prediction is missing


def test_well_formed_hallucination_is_wrong_and_schema_is_separate() -> None:
    reference = {"vendor": "Acme", "total": 10, "issue_date": None, "po_number": None}
    hallucination = {"vendor": "Acme", "total": 10, "issue_date": "2025-01-01", "po_number": None}
    result = judge_record(hallucination, reference, SCHEMA)
    assert result.schema_valid is True and result.n_hallucinated == 1 and result.n_correct == 3
    # schema-invalid (extra key, total as a bool is fine to flag) but every judged field correct
    invalid = {"vendor": "Acme", "total": 10, "extra": 1}
    result = judge_record(invalid, reference, SCHEMA)
    assert result.schema_valid is False and result.n_correct == 4
    # unparseable output: all fields null, schema fails
    result = judge_record(None, reference, SCHEMA)
    assert result.schema_valid is False and result.n_correct == 2 and not result.parsed


def test_booleans_are_not_numbers() -> None:
    assert not judge_record({"x": True}, {"x": 1}).fields[0].correct


def test_summary_rates_and_per_field_breakdown() -> None:
    truth = {
        "a": {"vendor": "Acme", "total": 1, "po_number": None},
        "b": {"vendor": "Bolt", "total": 2, "po_number": None},
    }
    predictions = {"a": {"vendor": "acme", "total": "1.00", "po_number": "PO-9"}, "c": {"vendor": "x"}}
    summary = judge(predictions, truth, SCHEMA)
    # a: vendor ok, total ok, po hallucinated, date null==null ok; b missing → vendor, total wrong, nulls ok
    assert summary.n_fields == 8 and summary.n_correct == 5
    assert summary.field_accuracy == pytest.approx(5 / 8)
    assert summary.n_null_fields == 4 and summary.hallucination_rate == pytest.approx(1 / 4)
    assert summary.n_missing_predictions == 1 and summary.n_unmatched_predictions == 1
    assert summary.per_field["po_number"].hallucinated == 1
    assert summary.per_field["vendor"].missed == 1
    assert judge({}, {"a": {"x": 1}}).hallucination_rate is None


def test_calibration_against_hand_computation() -> None:
    # 10 items: human pass 6 / fail 4; judge agrees on 8 (5 pass-pass, 3 fail-fail), 1 pass→fail, 1 fail→pass
    human = {str(i): label for i, label in enumerate(["pass"] * 6 + ["fail"] * 4)}
    judged = {str(i): label for i, label in enumerate(["pass"] * 5 + ["fail"] + ["fail"] * 3 + ["pass"])}
    result = calibrate(judged, human)
    p_o = 0.8
    p_e = (6 / 10) * (6 / 10) + (4 / 10) * (4 / 10)  # human pass 6, judge pass 6
    assert result.agreement == pytest.approx(p_o)
    assert result.kappa == pytest.approx((p_o - p_e) / (1 - p_e))  # 0.5833…
    assert result.labels == ("fail", "pass")
    assert result.confusion == ((3, 1), (1, 5))
    assert not result.passed
    perfect = calibrate(human, human)
    assert perfect.passed and perfect.kappa == pytest.approx(1.0)
    assert calibrate({"1": "pass"}, {"1": "pass"}).kappa is None  # chance agreement 1: undefined


def test_judge_and_calibrate_commands(tmp_path: Path) -> None:
    _register_all()
    runner = CliRunner()
    truth = tmp_path / "truth.jsonl"
    preds = tmp_path / "pred.jsonl"
    schema = tmp_path / "schema.json"
    truth.write_text(
        '{"id": "1", "fields": {"total": 5, "note": null}}\n{"id": "2", "fields": {"total": 7, "note": null}}\n'
    )
    preds.write_text('{"id": "1", "fields": {"total": "5.0", "note": "x"}}\n{"id": "2", "fields": {"total": 7}}\n')
    schema.write_text(json.dumps({"properties": {"total": {"x-normalise": ["number"]}, "note": {}}}))
    result = runner.invoke(
        app, ["judge", "--predictions", str(preds), "--truth", str(truth), "--schema", str(schema), "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["field_accuracy"] == 0.75 and figures["hallucination_rate"] == 0.5
    assert figures["n_fields"] == 4 and figures["n_null_fields"] == 2
    assert figures["schema_pass_rate"] == 1.0
    human = tmp_path / "human.jsonl"
    judged = tmp_path / "judge.jsonl"
    human.write_text("".join(json.dumps({"id": i, "label": "pass"}) + "\n" for i in range(10)))
    judged.write_text("".join(json.dumps({"id": i, "label": i != 0}) + "\n" for i in range(10)))
    result = runner.invoke(app, ["judge", "calibrate", "--judge", str(judged), "--human", str(human), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["agreement"] == 0.9 and json.loads(result.output)["passed"] is True
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "fields": {}}\n{"id": "2"}\n')
    result = runner.invoke(app, ["judge", "--predictions", str(bad), "--truth", str(truth)])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output


class _JudgeServer(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _JudgeServer.seen.append((self.path, self.headers.get("Authorization"), body))
        user = json.loads(body["messages"][1]["content"])
        label = "pass" if user["prediction"] == user["reference"] else "fail"
        content = f'```json\n{{"label": "{label}", "reason": "compared"}}\n```'
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_llm_judge_against_a_loopback_openai_compatible_server() -> None:
    server = HTTPServer(("127.0.0.1", 0), _JudgeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        grader = LLMJudge(base_url=f"http://127.0.0.1:{server.server_port}/v1", model="judge-1", api_key="k")
        assert grader.grade({"a": 1}, {"a": 1}).label == "pass"
        assert grader.grade({"a": 1}, {"a": 2}).label == "fail"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    path, auth, body = _JudgeServer.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer k" and body["model"] == "judge-1"
    assert "rubric" not in body and body["messages"][0]["role"] == "system"
