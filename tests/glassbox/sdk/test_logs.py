"""Logs: one JSON line per record with trace and attribution fields, secrets never written, sent once by OTLP."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler

from glassbox import attribution
from glassbox import conventions as c
from glassbox.redaction import Redactor, build_redactor
from glassbox.sdk import logs
from tests.conftest import Telemetry

# Seeded corpus: every one of these must be gone from every output line.
SECRETS = [
    "sk-proj-4fGh7Jk9Lm2Np5Qr8St1Uv3Wx6Yz0Ab",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]
PASSWORDS = ["password=hunter2hunter2", "passwd: S3cr3t!value", 'api_key="abc123def456"']
BEARERS = ["Authorization: Bearer abcdef0123456789.ghijkl"]
PII = ["jane.doe@example.com", "4111 1111 1111 1111", "+1 415 555 0134"]


@pytest.fixture
def captured(telemetry: Telemetry) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    stdout = logging.StreamHandler(stream)
    stdout.setFormatter(logs.JsonLogFormatter("svc"))
    otlp = LoggingHandler(logger_provider=telemetry.logger_provider)
    for handler in (stdout, otlp):
        handler.addFilter(logs.GlassboxLogFilter())
        logger.addHandler(handler)
    yield logger, stream
    for handler in (stdout, otlp):
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_fields_trace_and_attribution(
    telemetry: Telemetry, captured: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, stream = captured
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: "acme", c.REQUEST_ID: "req-42"}))
    try:
        with telemetry.tracer_provider.get_tracer("t").start_as_current_span("work") as span:
            logger.info("hello %s", "world", extra={"order": 17})
    finally:
        otel_context.detach(token)
    (line,) = lines(stream)
    assert list(line)[: len(c.LOG_FIELDS)] == list(c.LOG_FIELDS)
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["service"] == "svc"
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert line["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert line["tenant"] == "acme"
    assert line["request_id"] == "req-42"
    assert line["order"] == 17
    # the same record went out by OTLP exactly once, with the trace and attribution
    (record,) = telemetry.logs.get_finished_logs()
    assert record.log_record.body == "hello world"
    assert record.log_record.trace_id == span.get_span_context().trace_id
    assert record.log_record.attributes[c.TENANT_ID] == "acme"


def test_outside_a_span_trace_fields_are_null(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    assert trace.get_current_span() is trace.INVALID_SPAN
    logger.warning("no span here")
    (line,) = lines(stream)
    assert line["trace_id"] is None and line["tenant"] is None


@pytest.mark.parametrize("secret", SECRETS + PASSWORDS + BEARERS + PII)
def test_secrets_never_reach_a_line(
    telemetry: Telemetry, captured: tuple[logging.Logger, io.StringIO], secret: str
) -> None:
    logger, stream = captured
    logger.info("calling with %s", secret, extra={"header": secret})
    try:
        raise ValueError(f"bad credentials {secret}")
    except ValueError:
        logger.exception("failed")
    output = stream.getvalue()
    otlp = repr([(r.log_record.body, r.log_record.attributes) for r in telemetry.logs.get_finished_logs()])
    sensitive = secret.split("=")[-1].split(":")[-1].strip(' "')
    if secret in BEARERS:
        sensitive = "abcdef0123456789"
    for text in (output, otlp):
        assert sensitive not in text
        assert "[REDACTED:" in text
    assert len(lines(stream)) == 2


def test_log_forging_cannot_break_a_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    evil = 'user\n{"level": "CRITICAL", "message": "forged"}\r\x1b[31mred\x1b[0m\u2028next\x85'
    logger.info("login by %s", evil, extra={"agent": evil})
    raw = stream.getvalue()
    assert raw.count("\n") == 1
    assert "\x1b" not in raw and "\r" not in raw and "\u2028" not in raw and "\x85" not in raw
    (line,) = lines(stream)
    assert line["message"] == f"login by {evil}"  # intact after decoding, inert in the file


def test_plain_format_escapes_control_characters() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb\x1b[2Jc", (), None)
    formatted = logs.PlainLogFormatter().format(record)
    assert "\n" not in formatted and "\x1b" not in formatted
    assert "a\\x0ab\\x1b[2Jc" in formatted


def test_decimal_numbers_are_not_phone_numbers() -> None:
    redactor = Redactor()
    for text in ("spent 0.00199993 of 0.002 USD", "pi 3.14159265358", "ratio 12.3456789012", "t=1795379701.521"):
        assert redactor.redact(text) == text
    for phone in ("+1 415 555 0134", "415.555.0134", "(415) 555-0134", "call 2025550172 now", "1.415.555.0134"):
        assert "[REDACTED:phone]" in redactor.redact(phone), phone


def test_luhn_keeps_order_numbers() -> None:
    redactor = Redactor()
    assert redactor.redact("card 4111-1111-1111-1111 ok") == "card [REDACTED:card] ok"
    assert redactor.redact("card 4111-1111-1111-1112 ok") == "card 4111-1111-1111-1112 ok"  # fails the Luhn check
    assert redactor.redact("order 1234567890123") == "order 1234567890123"
    assert redactor.redact_value(["mail a@b.io", {"k": "x@y.org"}, 3]) == [
        "mail [REDACTED:email]",
        {"k": "[REDACTED:email]"},
        3,
    ]


def test_redactions_are_counted(telemetry: Telemetry, captured: tuple[logging.Logger, io.StringIO]) -> None:
    before = telemetry.total(c.METRIC_LOG_SECRETS_REDACTED, kind="email")
    logger, _ = captured
    logger.info("contact bob@example.org")
    assert telemetry.total(c.METRIC_LOG_SECRETS_REDACTED, kind="email") == before + 1


def test_install_adds_one_otlp_handler(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        root.handlers = []
        logs.install(telemetry.logger_provider, "svc")
        logs.install(telemetry.logger_provider, "svc")
        kinds = sorted(type(h).__name__ for h in root.handlers)
        assert kinds == ["GlassboxLoggingHandler", "StreamHandler"]
        assert all(any(isinstance(f, logs.GlassboxLogFilter) for f in h.filters) for h in root.handlers)
        # a user who turned the logging instrumentor on gets its handler instead of a second one
        root.handlers = []
        monkeypatch.setenv("OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION", "true")
        logs.install(telemetry.logger_provider, "svc")
        assert [type(h).__name__ for h in root.handlers] == ["StreamHandler"]
    finally:
        root.handlers = saved


_SENSITIVE_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 @.+-()_:="/\n'
_CORPUS = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "redaction_corpus.jsonl"
_CORPUS_TEXTS = [json.loads(line)["text"] for line in _CORPUS.read_text(encoding="utf-8").splitlines() if line]
_FRAGMENTS = [*SECRETS, *PASSWORDS, *BEARERS, *PII, "415.555.0134", "(415) 555-0134", "Bearer x", "TOKEN: abcdef",
              *_CORPUS_TEXTS]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(alphabet=_SENSITIVE_ALPHABET, max_size=40), st.sampled_from(_FRAGMENTS)),
        max_size=5,
    )
)
def test_the_cheap_precheck_never_skips_a_match(parts: list[str]) -> None:
    text = " ".join(parts)
    redactor = Redactor()
    assert redactor.findings(text) == redactor.findings(text, every_detector=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(_FRAGMENTS)), max_size=4))
def test_redacting_twice_changes_nothing(parts: list[str]) -> None:
    redactor = Redactor()
    once = redactor.redact(" ".join(parts))
    assert redactor.redact(once) == once


def test_custom_redaction_patterns_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_REDACT_PATTERNS", r"ACCT-\d{6};;[unclosed")
    redactor = build_redactor()
    # the valid pattern applies everywhere (no cheap pre-check can know it); the broken one is skipped
    assert redactor.redact("account ACCT-123456 closed") == "account [REDACTED:custom] closed"
    assert redactor.redact("mail x@y.org") == "mail [REDACTED:email]"


def test_phone_numbers_are_validated_for_the_regions_the_setting_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """A national number means something only in its region: a London number is a phone with GB named, and left
    alone under the default (US), where it is not a valid number."""
    london = "call 020 7946 0018 now"
    assert Redactor().redact(london) == london
    monkeypatch.setenv("GLASSBOX_REDACT_PHONE_REGIONS", "gb, US")
    assert Redactor().redact(london) == "call [REDACTED:phone] now"


def test_the_root_level_is_the_apps_and_basic_config_still_sets_it(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    saved, saved_level = list(root.handlers), root.level
    try:
        root.handlers = []
        root.setLevel(logging.WARNING)
        monkeypatch.delenv("GLASSBOX_LOG_LEVEL", raising=False)
        logs.install(telemetry.logger_provider, "svc")
        ours = list(root.handlers)
        assert len(ours) == 2 and root.level == logging.WARNING  # left to the app
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        # glassbox's handlers stand in for the one basicConfig would add; its level applies
        assert root.handlers == ours and root.level == logging.INFO
        foreign = logging.StreamHandler(io.StringIO())
        root.addHandler(foreign)
        logging.basicConfig(level=logging.ERROR)  # configured already: nothing happens, as in the stdlib
        assert root.level == logging.INFO and foreign in root.handlers
        logging.basicConfig(level=logging.DEBUG, force=True)  # force: other handlers go, glassbox's stay
        assert root.handlers == ours and root.level == logging.DEBUG
    finally:
        root.handlers = saved
        root.setLevel(saved_level)


def test_install_respects_format_and_capture_settings(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved, saved_level = list(root.handlers), root.level
    try:
        root.handlers = []
        monkeypatch.setenv("GLASSBOX_LOG_FORMAT", "plain")
        monkeypatch.setenv("GLASSBOX_LOG_LEVEL", "warning")
        logs.install(telemetry.logger_provider, "svc")
        (stdout,) = [h for h in root.handlers if type(h).__name__ == "StreamHandler"]
        assert isinstance(stdout.formatter, logs.PlainLogFormatter)
        assert root.level == logging.WARNING
        root.handlers = []
        monkeypatch.setenv("GLASSBOX_CAPTURE_LOGS", "false")
        logs.install(telemetry.logger_provider, "svc")
        assert root.handlers == []
    finally:
        root.handlers = saved
        root.setLevel(saved_level)
