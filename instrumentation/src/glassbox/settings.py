"""Glassbox's own settings, read from ``GLASSBOX_*`` environment variables.

``SETTINGS`` is the one table of them: the README's settings table is generated from it and a test checks
that the two agree. A malformed value never stops the app: it is reported once on stderr and the default
is used instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    description: str
    parse: Callable[[str], Any] = str


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be 0 or more")
    return value


def _header(raw: str) -> str:
    name = raw.strip().lower()
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError("must be an HTTP header name")
    return name


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


SETTINGS: tuple[Setting, ...] = (
    Setting("GLASSBOX_ENVIRONMENT", "development", "Value of `deployment.environment.name` when none is set."),
    Setting("GLASSBOX_TENANT_HEADER", "x-tenant-id", "Request header that names the tenant.", _header),
    Setting("GLASSBOX_USER_HEADER", "x-user-id", "Request header that names the end user.", _header),
    Setting("GLASSBOX_SESSION_HEADER", "x-session-id", "Request header that names the session.", _header),
    Setting("GLASSBOX_REQUEST_ID_HEADER", "x-request-id", "Request header with the business request id.", _header),
    Setting(
        "GLASSBOX_CLIENT_ADDRESS_HEADER",
        "",
        "Header a trusted proxy sets to the client's address (e.g. `x-forwarded-for`); empty: the socket peer.",
        _header,
    ),
    Setting(
        "GLASSBOX_ATTRIBUTION_SOURCE",
        "headers",
        "Where tenant, user, session and request id come from: `headers` (the four headers above, which only a "
        "trusted proxy may set) or `app` (the app calls `glassbox.set_tenant`; client headers and baggage ignored).",
        _choice("headers", "app"),
    ),
    Setting(
        "GLASSBOX_BAGGAGE_HOSTS",
        "",
        "Hosts outgoing requests carry baggage to (`glassbox_baggage` propagator): names, `*.domain`, or `*` for "
        "all; empty: none. Trace context goes to every host.",
    ),
    Setting(
        "GLASSBOX_MAX_TENANTS",
        "100",
        "Distinct tenant label values per process; later tenants are reported as `_other` and counted.",
        _positive_int,
    ),
    Setting(
        "GLASSBOX_METRICS_PORT",
        "9464",
        "Port of the Prometheus `/metrics` endpoint; `0` turns it off.",
        _positive_int,
    ),
    Setting("GLASSBOX_METRICS_HOST", "127.0.0.1", "Address the `/metrics` endpoint binds to."),
    Setting("GLASSBOX_LOG_FORMAT", "json", "Log lines on stdout: `json` or `plain`.", _choice("json", "plain")),
    Setting(
        "GLASSBOX_LOG_LEVEL",
        "",
        "Root log level glassbox sets; empty: the app's own logging configuration decides (Python's default is "
        "`WARNING`; `logging.basicConfig(level=...)` still applies under glassbox).",
        _choice("debug", "info", "warning", "error", "critical"),
    ),
    Setting(
        "GLASSBOX_CAPTURE_LOGS",
        "true",
        "Install the JSON stdout handler and the OTLP log handler on the root logger.",
        _bool,
    ),
    Setting(
        "GLASSBOX_REDACT_PATTERNS",
        "",
        "Extra regular expressions to redact, separated by `;;`, on top of the built-in list.",
    ),
    Setting(
        "GLASSBOX_REDACT_PHONE_REGIONS",
        "US",
        "Regions (ISO 3166 codes, comma-separated) whose national phone numbers are redacted; numbers written "
        "with `+` or `00` are redacted whatever their region.",
    ),
    Setting(
        "GLASSBOX_ASGI_MESSAGE_SPANS",
        "false",
        "Keep the FastAPI instrumentation's `http send`/`http receive` spans (one per ASGI message).",
        _bool,
    ),
    Setting(
        "GLASSBOX_NESTED_CALL_SPANS",
        "false",
        "Keep the spans that repeat a model call inside its GenAI span: the HTTP client span (`POST`) and an SDK's "
        "own span under the GenAI instrumentation's span.",
        _bool,
    ),
    Setting(
        "GLASSBOX_BUDGETS_FILE",
        "",
        "YAML file of USD budgets per tenant and UTC day/month, reported as `glassbox.budget.*` gauges; empty: none.",
    ),
    Setting(
        "GLASSBOX_STATE_URL",
        "",
        "Shared state for every host: `postgresql://app-role:password@host:5432/db`, the app's login role a member "
        "of `glassbox_writer` and nothing more (spend, budgets, kill switch, request limits, audit trail); empty: "
        "the single-host files below.",
    ),
    Setting(
        "GLASSBOX_STATE_ADMIN_URL",
        "",
        "The schema owner's URL, for `glassbox state migrate` and `glassbox state role` only; never give it to apps "
        "(their role is a member of `glassbox_writer`).",
    ),
    Setting(
        "GLASSBOX_STATE_TIMEOUT",
        "0.25",
        "Seconds a model call or an audit event waits at most for the shared state before "
        "`GLASSBOX_STATE_FAILURE` applies.",
        _positive_float,
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_MODE",
        "enforce",
        "Prompt-injection scoring of every message of a model call a client can have written: `enforce` "
        "(critical risk refused, high audited), `monitor` (recorded, never refused) or `off`.",
        _choice("enforce", "monitor", "off"),
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_SPANS",
        "flagged",
        "Which prompt-injection checks become `apply_guardrail` spans: `flagged` (medium risk or above; every check "
        "is counted either way) or `all`.",
        _choice("flagged", "all"),
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_HISTORY",
        "client",
        "Who writes the `assistant` and `developer` turns a model call sends: `client` (they are scored like user "
        "input) or `app` (the app builds every history itself: not scored; per call: `guardrail.trusted_history()`).",
        _choice("client", "app"),
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_CACHE",
        "4096",
        "Messages whose prompt-injection score is remembered (by a keyed hash, never the text), so a conversation "
        "costs only its new messages; 0: none.",
        _positive_int,
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_DETECTORS",
        "",
        "Comma-separated names of `glassbox.guardrail_detectors` entry points that score each message besides "
        "the rules (a model classifier, a provider's guardrail service); empty: the rules only.",
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_DETECTOR_TIMEOUT",
        "1.0",
        "Seconds a model call waits at most for the guardrail detectors; one that has not answered by then is "
        "counted and `GLASSBOX_GUARDRAIL_DETECTOR_FAILURE` applies.",
        _positive_float,
    ),
    Setting(
        "GLASSBOX_GUARDRAIL_DETECTOR_FAILURE",
        "fail-open",
        "When a guardrail detector fails or times out: `fail-open` (the other scores decide) or `fail-closed` (the "
        "call is refused in enforce mode); counted either way.",
        _choice("fail-open", "fail-closed"),
    ),
    Setting(
        "GLASSBOX_STATE_FAILURE",
        "fail-open",
        "When the shared state cannot answer: `fail-open` (calls go on, with the last kill-switch state seen) or "
        "`fail-closed` (AI calls refused); counted either way.",
        _choice("fail-open", "fail-closed"),
    ),
    Setting(
        "GLASSBOX_BUDGETS_STATE",
        ".glassbox/spend.sqlite",
        "Files state: SQLite file of tenant spend and budgets shared by the processes of one host; empty: per process.",
    ),
    Setting(
        "GLASSBOX_AUDIT_DIR",
        ".glassbox/audit",
        "Files state: directory of the hash-chained audit log (`audit.jsonl`), shared by the processes of one host.",
    ),
    Setting(
        "GLASSBOX_AUDIT_CHECKPOINT_DIR",
        ".glassbox/audit-checkpoints",
        "Directory of the signed audit checkpoints; keep it on other storage than the log.",
    ),
    Setting(
        "GLASSBOX_AUDIT_SPOOL_DIR",
        ".glassbox/audit-spool",
        "Fail-open: where audit events the log cannot take wait (a file per process) until it can.",
    ),
    Setting(
        "GLASSBOX_AUDIT_KEY_FILE",
        ".glassbox/keys/audit.key",
        "Ed25519 private key (PEM) that signs audit checkpoints; created (mode 0600) with a `.pub` beside it.",
    ),
    Setting(
        "GLASSBOX_AUDIT_PUBLIC_KEY",
        "",
        "The audit signing keys you trust: a PEM file, PEM text, or SHA-256 fingerprints (hex, comma-separated) of "
        "the raw public keys. `glassbox audit verify` trusts only these; a writer whose key is not among them does "
        "not sign. Empty: no signature is trusted.",
    ),
    Setting(
        "GLASSBOX_AUDIT_MODE",
        "fail-open",
        "`fail-open`: an audit event the log cannot take waits in the spool, counted; `fail-closed`: the action fails.",
        _choice("fail-open", "fail-closed"),
    ),
    Setting(
        "GLASSBOX_AUDIT_CHECKPOINT_EVERY",
        "100",
        "Sign a checkpoint of the audit log every this many records...",
        _positive_int,
    ),
    Setting(
        "GLASSBOX_AUDIT_CHECKPOINT_SECONDS",
        "60",
        "...or when the last checkpoint is older than this many seconds.",
        _positive_float,
    ),
    Setting(
        "GLASSBOX_KILL_SWITCH",
        "false",
        "`true` turns every AI call off in this process (`glassbox kill-switch on` does it for every process).",
        _bool,
    ),
    Setting(
        "GLASSBOX_KILL_SWITCH_FILE",
        ".glassbox/kill-switch",
        "Files state: while this file exists, AI calls are refused in every process of the host (within 0.25 s).",
    ),
    Setting(
        "GLASSBOX_REQUEST_MAX_LLM_CALLS",
        "0",
        "Model calls allowed per request id (0: no limit).",
        _positive_int,
    ),
    Setting(
        "GLASSBOX_REQUEST_MAX_USD",
        "0",
        "USD allowed per request id (0: no limit); the call after the one that reaches it is refused.",
        _non_negative_float,
    ),
    Setting(
        "GLASSBOX_REQUEST_MAX_TOKENS",
        "0",
        "Model tokens (input + output) allowed per request id (0: no limit); the next call past it is refused.",
        _positive_int,
    ),
    Setting(
        "GLASSBOX_REQUEST_MAX_SECONDS",
        "0",
        "Seconds after a request arrives past which its model calls are refused (0: no limit).",
        _non_negative_float,
    ),
    Setting(
        "GLASSBOX_SHUTDOWN_TIMEOUT",
        "5",
        "Seconds allowed to flush telemetry on SIGTERM or exit.",
        _positive_float,
    ),
)

_BY_ENV = {s.env: s for s in SETTINGS}
_reported: set[str] = set()


_parsed: dict[tuple[str, str | None], Any] = {}
_MAX_PARSED = 1024


def get(env: str, environ: Mapping[str, str] | None = None) -> Any:
    """The parsed value of one setting, or its default (with a warning) when the value is malformed.

    A raw value is parsed once: later reads of the same value return the parsed one, so a setting read on a
    hot path costs one environment lookup.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(env)
    key = (env, raw)
    try:
        return _parsed[key]
    except KeyError:
        pass
    value = _parse(_BY_ENV[env], raw)
    if len(_parsed) >= _MAX_PARSED:
        _parsed.clear()
    _parsed[key] = value
    return value


def _parse(setting: Setting, raw: str | None) -> Any:
    if raw is None or raw == "":
        return setting.parse(setting.default) if setting.default != "" else ""
    try:
        return setting.parse(raw)
    except ValueError as exc:
        if setting.env not in _reported:
            _reported.add(setting.env)
            print(
                f"glassbox: ignoring {setting.env}={raw!r} ({exc}); using {setting.default!r}",
                file=sys.stderr,
            )
        return setting.parse(setting.default) if setting.default != "" else ""


def markdown_table() -> str:
    """The settings table as Markdown, for the README."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.env}` | {default} | {s.description} |")
    return "\n".join(lines)
