"""Redaction against someone who wants secrets and personal data out of the process: each test makes a move and
checks what was exported, decoded from a real OTLP/HTTP receiver (and the JSON written to stdout), never a mock.

The process runs the real OpenTelemetry SDK with glassbox's span processor and log record processor in front of
OTLP exporters; the stdlib path has glassbox's filter and OTLP handler. The collector tests run the project's
collector build with the generated ``redaction`` processor of collector/config.yaml.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry import context as otel_context
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from glassbox import attribution
from glassbox import conventions as c
from glassbox.sdk import logs
from glassbox.sdk.span_processor import GlassboxSpanProcessor
from tests.conftest import ROOT, Telemetry, free_port, stop, wait_http
from tests.support.otlp_receiver import OTLPReceiver, attributes

# Crafted secrets and personal data (none is real).
PROVIDER_KEY = "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lm"
GITHUB_TOKEN = "ghp_4fGh7Jk9Lm2Np5Qr8St1Uv3Wx6Yz0AbCdEfG"
GOOGLE_KEY = "AIzaSyD4fGh7Jk9Lm2Np5Qr8St1Uv3Wx6Yz0AbCd"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUgRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
EMAIL = "jane.doe@example.com"
CARD = "4111-1111-1111-1111"
CARD_NUMBER = 4111111111111111
PASSWORD = "Tr0ub4dor-3x"
ACCESS_TOKEN = "at_9f8e7d6c5b4a3f2e1d0c"
API_KEY = "k_1a2b3c4d5e6f7a8b9c0d"


@dataclass
class Exported:
    """What the process exported: decoded spans and log records, the raw OTLP bytes, the stdout JSON lines."""

    receiver: OTLPReceiver
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    logger: logging.Logger
    stdout: io.StringIO

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for request in list(self.receiver.requests["/v1/traces"]):
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        events = [{"name": e.name, "attributes": attributes(e.attributes)} for e in span.events]
                        out.append(
                            {
                                "name": span.name,
                                "attributes": attributes(span.attributes),
                                "events": events,
                                "status": span.status.message,
                            }
                        )
        return out

    def span(self, name: str) -> dict[str, Any]:
        (found,) = [span for span in self.spans() if span["name"] == name]
        return found

    def logs(self) -> list[dict[str, Any]]:
        return self.receiver.logs()

    def raw(self) -> bytes:
        return b"".join(self.receiver.raw)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.getvalue().splitlines()]

    def assert_nowhere(self, *secrets: str) -> None:
        """None of ``secrets`` left the process: not in any OTLP request's bytes, not on stdout."""
        raw, stdout = self.raw(), self.stdout.getvalue()
        for secret in secrets:
            assert secret.encode() not in raw, f"{secret!r} was exported by OTLP"
            assert secret not in stdout, f"{secret!r} was written to stdout"


@pytest.fixture
def exported(telemetry: Telemetry) -> Iterator[Exported]:
    with OTLPReceiver() as receiver:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(
            GlassboxSpanProcessor(
                SimpleSpanProcessor(OTLPSpanExporter(f"{receiver.endpoint}/v1/traces")),
                instruments=telemetry.instruments,
                capture_content=False,
            )
        )
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            logs.GlassboxLogRecordProcessor(SimpleLogRecordProcessor(OTLPLogExporter(f"{receiver.endpoint}/v1/logs")))
        )
        stream = io.StringIO()
        logger = logging.getLogger(f"attacker.{id(stream)}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        stdout = logging.StreamHandler(stream)
        stdout.setFormatter(logs.JsonLogFormatter("victim"))
        otlp = logs.GlassboxLoggingHandler(logger_provider=logger_provider)
        for handler in (stdout, otlp):
            handler.addFilter(logs.GlassboxLogFilter())
            logger.addHandler(handler)
        try:
            yield Exported(receiver, tracer_provider, logger_provider, logger, stream)
        finally:
            for handler in (stdout, otlp):
                logger.removeHandler(handler)
            tracer_provider.shutdown()
            logger_provider.shutdown()


# --------------------------------------------------------------------------- spans
def test_an_exception_carrying_a_key_an_email_and_a_card_is_exported_redacted(exported: Exported) -> None:
    tracer = exported.tracer_provider.get_tracer("app")
    with pytest.raises(ValueError), tracer.start_as_current_span("charge"):
        raise ValueError(f"provider refused {PROVIDER_KEY} for {EMAIL} paying with {CARD}")
    span = exported.span("charge")
    (event,) = span["events"]
    assert event["name"] == "exception"
    assert "[REDACTED:model_provider_key]" in event["attributes"]["exception.message"]
    assert "[REDACTED:email]" in event["attributes"]["exception.stacktrace"]
    assert "[REDACTED:card]" in span["status"]
    exported.assert_nowhere(PROVIDER_KEY, EMAIL, CARD)


def test_credentials_in_an_http_client_url_and_in_httpx_s_log_line_are_removed(
    exported: Exported, stub_url: str
) -> None:
    """The URL of an outgoing call carries user information and secrets in its query: the client span's
    url.full loses them as the HTTP conventions say, and httpx's own INFO line loses them too."""
    port = stub_url.rsplit(":", 1)[1]
    url = (
        f"http://alice:{PASSWORD}@127.0.0.1:{port}/health"
        f"?api_key={API_KEY}&access_token={ACCESS_TOKEN}&password={PASSWORD}x&page=2"
    )
    httpx_logger = logging.getLogger("httpx")
    saved = httpx_logger.level, httpx_logger.propagate, list(httpx_logger.handlers)
    httpx_logger.setLevel(logging.INFO)
    httpx_logger.propagate = False
    httpx_logger.handlers = list(exported.logger.handlers)
    try:
        with httpx.Client() as client:
            HTTPXClientInstrumentor.instrument_client(client, tracer_provider=exported.tracer_provider)
            assert client.get(url).status_code == 200
    finally:
        httpx_logger.setLevel(saved[0])
        httpx_logger.propagate = saved[1]
        httpx_logger.handlers = saved[2]
    (span,) = [s for s in exported.spans() if "url.full" in s["attributes"]]
    assert span["attributes"]["url.full"] == (
        f"http://REDACTED:REDACTED@127.0.0.1:{port}/health?api_key=REDACTED&access_token=REDACTED&password=REDACTED"
        "&page=2"
    )
    (line,) = [line for line in exported.lines() if line["logger"] == "httpx"]
    assert line["message"].startswith("HTTP Request: GET http://")
    exported.assert_nowhere(PASSWORD, API_KEY, ACCESS_TOKEN)


def test_a_signed_url_s_semantic_convention_parameters_are_redacted(exported: Exported) -> None:
    """The parameters the HTTP conventions name (a pre-signed object URL's AWSAccessKeyId, Signature, sig,
    X-Goog-Signature) lose their value, though no secret detector knows their shape."""
    tracer = exported.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("download") as span:
        span.set_attribute(
            "url.full", "https://bucket.example/o?AWSAccessKeyId=ABCDEFGH12&Signature=abc&sig=x1&X-Goog-Signature=y2"
        )
    assert exported.span("download")["attributes"]["url.full"] == (
        "https://bucket.example/o?AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED"
    )


def test_a_span_whose_redaction_fails_is_exported_without_what_it_could_not_redact(
    exported: Exported, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redaction failing is no reason to export in clear: the span keeps its name and timing, nothing else."""
    from glassbox.redaction import Redactor

    def broken(self: Redactor, attributes: Any, skip: Any = ()) -> Any:
        raise RuntimeError("redaction broke")

    monkeypatch.setattr(Redactor, "redact_attributes", broken)
    dropped = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="redaction_error")
    tracer = exported.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("charge") as span:
        span.set_attribute("note", f"paid by {EMAIL}")
        span.add_event("receipt", {"to": EMAIL})
    exported_span = exported.span("charge")
    assert exported_span["attributes"] == {} and exported_span["events"] == []
    assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="redaction_error") == dropped + 1
    exported.assert_nowhere(EMAIL)


def test_a_log_line_whose_redaction_fails_is_replaced_not_exported_in_clear(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glassbox.redaction import Redactor

    def broken(self: Redactor, text: str) -> str:
        raise RuntimeError("redaction broke")

    monkeypatch.setattr(Redactor, "redact", broken)
    exported.logger.warning("card %s on file", CARD)
    (line,) = exported.lines()
    assert line["message"] == "[REDACTED:redaction_failed]"
    exported.assert_nowhere(CARD)


def test_a_jwt_in_the_apps_own_span_attributes_and_events_is_redacted(exported: Exported) -> None:
    tracer = exported.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("login") as span:
        span.set_attribute("auth.presented", JWT)
        span.set_attribute("auth.chain", ["first", f"then {JWT}"])
        span.add_event("token.checked", {"claims": JWT})
    exported_span = exported.span("login")
    assert exported_span["attributes"]["auth.presented"] == "[REDACTED:json_web_token]"
    assert exported_span["attributes"]["auth.chain"] == ["first", "then [REDACTED:json_web_token]"]
    assert exported_span["events"][0]["attributes"]["claims"] == "[REDACTED:json_web_token]"
    exported.assert_nowhere(JWT.split(".")[1])


def test_secret_named_attributes_are_masked_whole_whatever_their_value(exported: Exported) -> None:
    """A short password or an opaque header value matches no pattern; its name gives it away."""
    tracer = exported.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("connect") as span:
        span.set_attribute("db.password", "hunter2")
        span.set_attribute("http.request.header.authorization", ["Basic YWxpY2U6aHVudGVyMg=="])
        span.set_attribute("http.request.header.x-api-key", ["0123abcd"])
        span.set_attribute("gen_ai.usage.input_tokens", 42)
    found = exported.span("connect")["attributes"]
    assert found["db.password"] == "[REDACTED:secret_field]"
    assert found["http.request.header.authorization"] == ["[REDACTED:secret_field]"]
    assert found["http.request.header.x-api-key"] == ["[REDACTED:secret_field]"]
    assert found["gen_ai.usage.input_tokens"] == 42
    exported.assert_nowhere("hunter2", "YWxpY2U6aHVudGVyMg==", "0123abcd")


def test_a_card_number_set_as_an_integer_attribute_is_redacted(exported: Exported) -> None:
    tracer = exported.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("pay") as span:
        span.set_attribute("payment.card", CARD_NUMBER)
        span.set_attribute("order.total_cents", 123456789)
    found = exported.span("pay")["attributes"]
    assert found["payment.card"] == "[REDACTED:card]"
    assert found["order.total_cents"] == 123456789
    exported.assert_nowhere(str(CARD_NUMBER))


def test_a_user_id_holding_an_email_is_redacted_on_spans_and_logs(exported: Exported) -> None:
    token = otel_context.attach(attribution.with_attribution({c.USER_ID: EMAIL, c.TENANT_ID: "acme"}))
    try:
        with exported.tracer_provider.get_tracer("app").start_as_current_span("work"):
            exported.logger.warning("working for the user")
    finally:
        otel_context.detach(token)
    assert exported.span("work")["attributes"][c.USER_ID] == "[REDACTED:email]"
    (record,) = exported.logs()
    assert record["attributes"][c.USER_ID] == "[REDACTED:email]"
    assert record["attributes"][c.TENANT_ID] == "acme"
    (line,) = exported.lines()
    assert line["user"] == "[REDACTED:email]"
    exported.assert_nowhere(EMAIL)


# --------------------------------------------------------------------------- logs
def test_secrets_nested_in_dict_and_list_extras_are_redacted(exported: Exported) -> None:
    exported.logger.info(
        "checkout",
        extra={"customer": {"contact": {"email": EMAIL}, "cards": [CARD]}, "keys": [GITHUB_TOKEN], "password": "x1"},
    )
    (record,) = exported.logs()
    customer = record["attributes"]["customer"]
    assert customer["contact"]["email"] == "[REDACTED:email]"
    assert customer["cards"] == ["[REDACTED:card]"]
    assert record["attributes"]["keys"] == ["[REDACTED:github_token]"]
    assert record["attributes"]["password"] == "[REDACTED:secret_field]"
    (line,) = exported.lines()
    assert line["customer"]["contact"]["email"] == "[REDACTED:email]"
    exported.assert_nowhere(EMAIL, CARD, GITHUB_TOKEN)


def test_records_from_the_logs_api_are_redacted_body_and_attributes(exported: Exported) -> None:
    """Not every record comes through stdlib logging: the OTel Logs API goes straight to the processor."""
    exported.logger_provider.get_logger("direct").emit(
        LogRecord(
            body={"note": f"key {PROVIDER_KEY}", "to": [EMAIL]},
            attributes={"client_secret": "s3", "callback": f"https://x.example/cb?access_token={ACCESS_TOKEN}"},
        )
    )
    (record,) = exported.logs()
    assert record["body"] == {"note": "key [REDACTED:model_provider_key]", "to": ["[REDACTED:email]"]}
    assert record["attributes"]["client_secret"] == "[REDACTED:secret_field]"
    exported.assert_nowhere(PROVIDER_KEY, EMAIL, ACCESS_TOKEN)


def test_an_exception_logged_with_its_traceback_is_redacted(exported: Exported) -> None:
    try:
        raise PermissionError(f"token {GOOGLE_KEY} rejected for {EMAIL}")
    except PermissionError:
        exported.logger.exception("call failed")
    (record,) = exported.logs()
    assert "[REDACTED:google_api_key]" in record["attributes"]["exception.message"]
    exported.assert_nowhere(GOOGLE_KEY, EMAIL)


# --------------------------------------------------------------------------- the collector
@contextmanager
def redaction_only_collector(receiver: OTLPReceiver) -> Iterator[str]:
    """The project's collector with only collector/config.yaml's redaction processor, exporting to ``receiver``."""
    from tests.stack.test_collector_config import collector

    redaction = yaml.safe_load((ROOT / "collector" / "config.yaml").read_text())["processors"]["redaction"]
    port, health = free_port(), free_port()
    pipeline = {"receivers": ["otlp"], "processors": ["redaction"], "exporters": ["otlp_http"]}
    config = {
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"redaction": redaction},
        "exporters": {"otlp_http": {"endpoint": receiver.endpoint, "compression": "none"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {"traces": pipeline, "logs": pipeline},
        },
    }
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "redaction.yaml"
        path.write_text(yaml.safe_dump(config))
        process = subprocess.Popen([str(collector()), f"--config={path}"], stdout=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{health}/", process=process)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def test_an_app_without_glassbox_cannot_pass_jwts_google_keys_or_integer_cards_through_the_collector() -> None:
    """The second line: an app that redacts nothing sends straight to the collector."""
    with OTLPReceiver() as receiver, redaction_only_collector(receiver) as url:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{url}/v1/traces")))
        with provider.get_tracer("careless").start_as_current_span("careless") as span:
            span.set_attributes(
                {"session.jwt": JWT, "maps.key": f"key={GOOGLE_KEY}", "card": CARD_NUMBER, "items": 3, "x": EMAIL}
            )
        provider.shutdown()
        log_provider = LoggerProvider()
        log_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(f"{url}/v1/logs")))
        log_provider.get_logger("careless").emit(LogRecord(body=f"bearer of {JWT} and {GOOGLE_KEY}"))
        log_provider.shutdown()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (receiver.spans() and receiver.logs()):
            time.sleep(0.1)
        (span_out,) = receiver.spans()
        (log_out,) = receiver.logs()
    found = span_out["attributes"]
    assert found["items"] == 3  # what matches nothing keeps its type
    assert str(CARD_NUMBER) not in str(found["card"])
    raw = b"".join(receiver.raw)
    for secret in (JWT.split(".")[1], GOOGLE_KEY, str(CARD_NUMBER), EMAIL):
        assert secret.encode() not in raw, secret
    assert "****" in log_out["body"]


# --------------------------------------------------------------------------- the corpus
def test_every_crafted_secret_of_the_corpus_is_redacted_and_every_look_alike_survives() -> None:
    from glassbox.redaction import build_redactor

    redactor = build_redactor()
    corpus = ROOT / "benchmarks" / "data" / "redaction_corpus.jsonl"
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) > 100
    missed = [row["text"] for row in rows if row["redact"] and row["secret"] in redactor.redact(row["text"])]
    changed = [row["text"] for row in rows if not row["redact"] and redactor.redact(row["text"]) != row["text"]]
    assert missed == [] and changed == []
