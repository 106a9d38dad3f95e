"""Glassbox's own settings, read from ``GLASSBOX_*`` environment variables.

Each setting is one typed constant (``settings.MAX_TENANTS.get()`` is an ``int``), so a misspelt name fails in
mypy, not at run time. ``SETTINGS`` lists them in the README's order: the README's settings table is generated
from it and a test checks that the two agree. A malformed value never stops the app: it is reported once on
stderr and the default is used instead. :func:`check_all` reads every setting when the pipeline is configured, so
each malformed one is reported at start-up, not at the first request or audit event that reads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One ``GLASSBOX_*`` variable: its name, default (as written in the environment), meaning and parser.

    ``runtime``: a change applies to the next use (the value is read at each use); otherwise glassbox reads it
    when the part that uses it starts (``configure``, the first request, a command), so set it before.
    """

    env: str
    default: str
    description: str
    parse: Callable[[str], T]
    runtime: bool = False

    def get(self, environ: Mapping[str, str] | None = None) -> T:
        """The parsed value, or the default (with one warning) when the value is malformed.

        A raw value is parsed once: later reads of the same value return the parsed one, so a setting read on a
        hot path costs one environment lookup.
        """
        environ = os.environ if environ is None else environ
        raw = environ.get(self.env)
        key = (self.env, raw)
        try:
            return _parsed[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = self._parse(raw)
        if len(_parsed) >= _MAX_PARSED:
            _parsed.clear()
        _parsed[key] = value
        return value

    def _parse(self, raw: str | None) -> T:
        if raw is not None and raw != "":
            try:
                return self.parse(raw)
            except ValueError as exc:
                if self.env not in _reported:
                    _reported.add(self.env)
                    print(
                        f"glassbox: ignoring {self.env}={raw!r} ({exc}); using {self.default!r}",
                        file=sys.stderr,
                    )
        # An empty default means "none": text settings only (a test checks that every such setting is text).
        return self.parse(self.default) if self.default != "" else ""  # type: ignore[return-value]


_reported: set[str] = set()
_parsed: dict[tuple[str, str | None], Any] = {}
_MAX_PARSED = 1024


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _at_least_one(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be 1 or more")
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


ENVIRONMENT: Final = Setting[str](
    "GLASSBOX_ENVIRONMENT", "development", "Value of `deployment.environment.name` when none is set.", parse=str
)

TENANT_HEADER: Final = Setting[str](
    "GLASSBOX_TENANT_HEADER", "x-tenant-id", "Request header that names the tenant.", parse=_header
)

USER_HEADER: Final = Setting[str](
    "GLASSBOX_USER_HEADER", "x-user-id", "Request header that names the end user.", parse=_header
)

SESSION_HEADER: Final = Setting[str](
    "GLASSBOX_SESSION_HEADER", "x-session-id", "Request header that names the session.", parse=_header
)

REQUEST_ID_HEADER: Final = Setting[str](
    "GLASSBOX_REQUEST_ID_HEADER", "x-request-id", "Request header with the business request id.", parse=_header
)

CLIENT_ADDRESS_HEADER: Final = Setting[str](
    "GLASSBOX_CLIENT_ADDRESS_HEADER",
    "",
    "Header a trusted proxy sets to the client's address (e.g. `x-forwarded-for`); empty: the socket peer.",
    parse=_header,
)

ATTRIBUTION_SOURCE: Final = Setting[str](
    "GLASSBOX_ATTRIBUTION_SOURCE",
    "headers",
    "Where tenant, user, session and request id come from: `headers` (the four headers above, which only a "
    "trusted proxy may set) or `app` (the app calls `glassbox.set_tenant`; client headers and baggage ignored).",
    parse=_choice("headers", "app"),
)

BAGGAGE_HOSTS: Final = Setting[str](
    "GLASSBOX_BAGGAGE_HOSTS",
    "",
    "Hosts outgoing requests carry baggage to (`glassbox_baggage` propagator): names, `*.domain`, or `*` for "
    "all; empty: none. Trace context goes to every host.",
    parse=str,
)

MAX_TENANTS: Final = Setting[int](
    "GLASSBOX_MAX_TENANTS",
    "100",
    "Distinct tenant label values per process; later tenants are reported as `_other` and counted.",
    parse=_positive_int,
)

PROMPT_VERSIONS_MAX: Final = Setting[int](
    "GLASSBOX_PROMPT_VERSIONS_MAX",
    "50",
    "Distinct (prompt name, version) label pairs per process; later pairs are reported as `_other` and counted.",
    parse=_positive_int,
)

METRICS_PORT: Final = Setting[int](
    "GLASSBOX_METRICS_PORT",
    "9464",
    "Port of the Prometheus `/metrics` endpoint; `0` turns it off.",
    parse=_positive_int,
)

METRICS_HOST: Final = Setting[str](
    "GLASSBOX_METRICS_HOST", "127.0.0.1", "Address the `/metrics` endpoint binds to.", parse=str
)

LOG_FORMAT: Final = Setting[str](
    "GLASSBOX_LOG_FORMAT", "json", "Log lines on stdout: `json` or `plain`.", parse=_choice("json", "plain")
)

LOG_LEVEL: Final = Setting[str](
    "GLASSBOX_LOG_LEVEL",
    "",
    "Root log level glassbox sets; empty: the app's own logging configuration decides (Python's default is "
    "`WARNING`; `logging.basicConfig(level=...)` still applies under glassbox).",
    parse=_choice("debug", "info", "warning", "error", "critical"),
)

CAPTURE_LOGS: Final = Setting[bool](
    "GLASSBOX_CAPTURE_LOGS",
    "true",
    "Install the JSON stdout handler and the OTLP log handler on the root logger.",
    parse=_bool,
)

REDACT_PATTERNS: Final = Setting[str](
    "GLASSBOX_REDACT_PATTERNS",
    "",
    "Extra regular expressions to redact, separated by `;;`, on top of the built-in list.",
    parse=str,
)

REDACT_PHONE_REGIONS: Final = Setting[str](
    "GLASSBOX_REDACT_PHONE_REGIONS",
    "US",
    "Regions (ISO 3166 codes, comma-separated) whose national phone numbers are redacted; numbers written "
    "with `+` or `00` are redacted whatever their region.",
    parse=str,
)

GC_FREEZE: Final = Setting[bool](
    "GLASSBOX_GC_FREEZE",
    "true",
    "When the app serves its first HTTP request, move every object that exists (modules, classes, the SDKs' "
    "tables) out of the garbage collector's reach (`gc.freeze()`), so a full collection scans only what was made "
    "since: its pause, which stalls every request in flight, shrinks from hundreds of milliseconds to a few.",
    parse=_bool,
)

ASGI_MESSAGE_SPANS: Final = Setting[bool](
    "GLASSBOX_ASGI_MESSAGE_SPANS",
    "false",
    "Keep the FastAPI instrumentation's `http send`/`http receive` spans (one per ASGI message).",
    parse=_bool,
)

NESTED_CALL_SPANS: Final = Setting[bool](
    "GLASSBOX_NESTED_CALL_SPANS",
    "false",
    "Keep the spans that repeat a model call inside its GenAI span: the HTTP client span (`POST`) and an SDK's "
    "own span under the GenAI instrumentation's span.",
    parse=_bool,
)


def _percent(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 100:
        raise ValueError("must be a percentage from 0 to 100")
    return value


TRACE_KEEP_PERCENT: Final = Setting[float](
    "GLASSBOX_TRACE_KEEP_PERCENT",
    "10",
    "The share of traces (percent) that every Glassbox app marks `glassbox.trace.kept`, chosen from the trace id "
    "alone so that every service of a trace chooses alike. The collector tiers' tail sampling keeps them (beside "
    "every failed, slow, costly or audited trace), and metric exemplars come only from them, so an exemplar's "
    "trace is in Tempo. 0 gives no exemplars; 100 marks every trace (where nothing samples, every request can be "
    "an exemplar).",
    parse=_percent,
)

EVALUATORS_FILE: Final = Setting[str](
    "GLASSBOX_EVALUATORS_FILE",
    "",
    "A YAML file of online evaluators (docs/evaluations.md): rules and LLM judges run on the app's own model "
    "calls, off the request path, exporting only their scores. Relative to GLASSBOX_APP_DIR. Empty: none.",
    parse=str,
)

EVALUATION_QUEUE: Final = Setting[int](
    "GLASSBOX_EVALUATION_QUEUE",
    "1000",
    "Model calls waiting for their online evaluations at most; past it a call is not evaluated and counted in "
    "glassbox.evaluation.dropped (reason queue_full). The request never waits.",
    parse=_at_least_one,
)

EVALUATION_TENANT: Final = Setting[str](
    "GLASSBOX_EVALUATION_TENANT",
    "_glassbox_eval",
    "The tenant a judge's model calls are made, priced and budgeted as (give it a budget to cap judging).",
    parse=str,
)

BUDGETS_FILE: Final = Setting[str](
    "GLASSBOX_BUDGETS_FILE",
    "",
    "YAML file of USD budgets per tenant and UTC day/month, reported as `glassbox.budget.*` gauges; empty: none.",
    parse=str,
)

STATE_URL: Final = Setting[str](
    "GLASSBOX_STATE_URL",
    "",
    "Shared state for every host: `postgresql://app-role:password@host:5432/db`, the app's login role a member "
    "of `glassbox_writer` and nothing more (spend, budgets, kill switch, request limits, audit trail); empty: "
    "the single-host files below.",
    parse=str,
)

STATE_ADMIN_URL: Final = Setting[str](
    "GLASSBOX_STATE_ADMIN_URL",
    "",
    "The schema owner's URL, for `glassbox state migrate` and `glassbox state role` only; never give it to apps "
    "(their role is a member of `glassbox_writer`).",
    parse=str,
)

STATE_TIMEOUT: Final = Setting[float](
    "GLASSBOX_STATE_TIMEOUT",
    "0.25",
    "Seconds a model call or an audit event waits at most for the shared state before "
    "`GLASSBOX_STATE_FAILURE` applies.",
    parse=_positive_float,
)

GUARDRAIL_MODE: Final = Setting[str](
    "GLASSBOX_GUARDRAIL_MODE",
    "enforce",
    "Prompt-injection scoring of every message of a model call a client can have written: `enforce` "
    "(critical risk refused, high audited), `monitor` (recorded, never refused) or `off`.",
    parse=_choice("enforce", "monitor", "off"),
    runtime=True,
)

GUARDRAIL_SPANS: Final = Setting[str](
    "GLASSBOX_GUARDRAIL_SPANS",
    "flagged",
    "Which prompt-injection checks become `apply_guardrail` spans: `flagged` (medium risk or above; every check "
    "is counted either way) or `all`.",
    parse=_choice("flagged", "all"),
    runtime=True,
)

GUARDRAIL_HISTORY: Final = Setting[str](
    "GLASSBOX_GUARDRAIL_HISTORY",
    "client",
    "Who writes the `assistant` and `developer` turns a model call sends: `client` (they are scored like user "
    "input) or `app` (the app builds every history itself: not scored; per call: `guardrail.trusted_history()`).",
    parse=_choice("client", "app"),
    runtime=True,
)

GUARDRAIL_CACHE: Final = Setting[int](
    "GLASSBOX_GUARDRAIL_CACHE",
    "4096",
    "Messages whose prompt-injection score is remembered (by a keyed hash, never the text), so a conversation "
    "costs only its new messages; 0: none.",
    parse=_positive_int,
    runtime=True,
)

GUARDRAIL_DETECTORS: Final = Setting[str](
    "GLASSBOX_GUARDRAIL_DETECTORS",
    "",
    "Comma-separated names of `glassbox.guardrail_detectors` entry points that score each message besides "
    "the rules (a model classifier, a provider's guardrail service); empty: the rules only.",
    parse=str,
    runtime=True,
)

GUARDRAIL_DETECTOR_TIMEOUT: Final = Setting[float](
    "GLASSBOX_GUARDRAIL_DETECTOR_TIMEOUT",
    "1.0",
    "Seconds a model call waits at most for the guardrail detectors; one that has not answered by then is "
    "counted and `GLASSBOX_GUARDRAIL_DETECTOR_FAILURE` applies.",
    parse=_positive_float,
    runtime=True,
)

GUARDRAIL_DETECTOR_FAILURE: Final = Setting[str](
    "GLASSBOX_GUARDRAIL_DETECTOR_FAILURE",
    "fail-open",
    "When a guardrail detector fails or times out: `fail-open` (the other scores decide) or `fail-closed` (the "
    "call is refused in enforce mode); counted either way.",
    parse=_choice("fail-open", "fail-closed"),
    runtime=True,
)

STATE_FAILURE: Final = Setting[str](
    "GLASSBOX_STATE_FAILURE",
    "fail-open",
    "When the shared state cannot answer: `fail-open` (calls go on, with the last kill-switch state seen) or "
    "`fail-closed` (AI calls refused); counted either way.",
    parse=_choice("fail-open", "fail-closed"),
)

BUDGETS_STATE: Final = Setting[str](
    "GLASSBOX_BUDGETS_STATE",
    ".glassbox/spend.sqlite",
    "Files state: SQLite file of tenant spend and budgets shared by the processes of one host; empty: per process.",
    parse=str,
)

AUDIT_DIR: Final = Setting[str](
    "GLASSBOX_AUDIT_DIR",
    ".glassbox/audit",
    "Files state: directory of the hash-chained audit log (`audit.jsonl`), shared by the processes of one host.",
    parse=str,
)

AUDIT_CHECKPOINT_DIR: Final = Setting[str](
    "GLASSBOX_AUDIT_CHECKPOINT_DIR",
    ".glassbox/audit-checkpoints",
    "Directory of the signed audit checkpoints; keep it on other storage than the log.",
    parse=str,
)

AUDIT_SPOOL_DIR: Final = Setting[str](
    "GLASSBOX_AUDIT_SPOOL_DIR",
    ".glassbox/audit-spool",
    "Fail-open: where audit events the log cannot take wait (a file per process) until it can.",
    parse=str,
)

AUDIT_KEY_FILE: Final = Setting[str](
    "GLASSBOX_AUDIT_KEY_FILE",
    ".glassbox/keys/audit.key",
    "Ed25519 private key (PEM) that signs audit checkpoints; created (mode 0600) with a `.pub` beside it.",
    parse=str,
)

AUDIT_PUBLIC_KEY: Final = Setting[str](
    "GLASSBOX_AUDIT_PUBLIC_KEY",
    "",
    "The audit signing keys you trust: a PEM file, PEM text, or SHA-256 fingerprints (hex, comma-separated) of "
    "the raw public keys. `glassbox audit verify` trusts only these; a writer whose key is not among them does "
    "not sign. Empty: no signature is trusted.",
    parse=str,
)

AUDIT_MODE: Final = Setting[str](
    "GLASSBOX_AUDIT_MODE",
    "fail-open",
    "`fail-open`: an audit event the log cannot take waits in the spool, counted; `fail-closed`: the action fails.",
    parse=_choice("fail-open", "fail-closed"),
    runtime=True,
)

AUDIT_CHECKPOINT_EVERY: Final = Setting[int](
    "GLASSBOX_AUDIT_CHECKPOINT_EVERY",
    "100",
    "Sign a checkpoint of the audit log every this many records...",
    parse=_positive_int,
)

AUDIT_CHECKPOINT_SECONDS: Final = Setting[float](
    "GLASSBOX_AUDIT_CHECKPOINT_SECONDS",
    "60",
    "...or when the last checkpoint is older than this many seconds.",
    parse=_positive_float,
)

KILL_SWITCH: Final = Setting[bool](
    "GLASSBOX_KILL_SWITCH",
    "false",
    "`true` turns every AI call off in this process (`glassbox kill-switch on` does it for every process).",
    parse=_bool,
)

KILL_SWITCH_FILE: Final = Setting[str](
    "GLASSBOX_KILL_SWITCH_FILE",
    ".glassbox/kill-switch",
    "Files state: while this file exists, AI calls are refused in every process of the host (within 0.25 s).",
    parse=str,
)

APP_DIR: Final = Setting[str](
    "GLASSBOX_APP_DIR",
    "",
    "The absolute directory that every relative glassbox file (kill switch, spend, audit log, checkpoints, key, "
    "spool) starts from, for apps and commands alike; empty: the working directory (apps only: `glassbox "
    "kill-switch` and `glassbox budgets` then refuse to guess).",
    parse=str,
)

REQUEST_MAX_LLM_CALLS: Final = Setting[int](
    "GLASSBOX_REQUEST_MAX_LLM_CALLS", "0", "Model calls allowed per request id (0: no limit).", parse=_positive_int
)

REQUEST_MAX_USD: Final = Setting[float](
    "GLASSBOX_REQUEST_MAX_USD",
    "0",
    "USD allowed per request id (0: no limit); the call after the one that reaches it is refused.",
    parse=_non_negative_float,
)

REQUEST_MAX_TOKENS: Final = Setting[int](
    "GLASSBOX_REQUEST_MAX_TOKENS",
    "0",
    "Model tokens (input + output) allowed per request id (0: no limit); the next call past it is refused.",
    parse=_positive_int,
)

REQUEST_MAX_SECONDS: Final = Setting[float](
    "GLASSBOX_REQUEST_MAX_SECONDS",
    "0",
    "Seconds after a request arrives past which its model calls are refused (0: no limit).",
    parse=_non_negative_float,
)

SHUTDOWN_TIMEOUT: Final = Setting[float](
    "GLASSBOX_SHUTDOWN_TIMEOUT",
    "5",
    "Seconds allowed to flush telemetry on SIGTERM or exit.",
    parse=_positive_float,
    runtime=True,
)

SETTINGS: tuple[Setting[Any], ...] = (
    ENVIRONMENT,
    TENANT_HEADER,
    USER_HEADER,
    SESSION_HEADER,
    REQUEST_ID_HEADER,
    CLIENT_ADDRESS_HEADER,
    ATTRIBUTION_SOURCE,
    BAGGAGE_HOSTS,
    MAX_TENANTS,
    PROMPT_VERSIONS_MAX,
    METRICS_PORT,
    METRICS_HOST,
    LOG_FORMAT,
    LOG_LEVEL,
    CAPTURE_LOGS,
    REDACT_PATTERNS,
    REDACT_PHONE_REGIONS,
    ASGI_MESSAGE_SPANS,
    GC_FREEZE,
    NESTED_CALL_SPANS,
    TRACE_KEEP_PERCENT,
    EVALUATORS_FILE,
    EVALUATION_QUEUE,
    EVALUATION_TENANT,
    BUDGETS_FILE,
    STATE_URL,
    STATE_ADMIN_URL,
    STATE_TIMEOUT,
    GUARDRAIL_MODE,
    GUARDRAIL_SPANS,
    GUARDRAIL_HISTORY,
    GUARDRAIL_CACHE,
    GUARDRAIL_DETECTORS,
    GUARDRAIL_DETECTOR_TIMEOUT,
    GUARDRAIL_DETECTOR_FAILURE,
    STATE_FAILURE,
    BUDGETS_STATE,
    AUDIT_DIR,
    AUDIT_CHECKPOINT_DIR,
    AUDIT_SPOOL_DIR,
    AUDIT_KEY_FILE,
    AUDIT_PUBLIC_KEY,
    AUDIT_MODE,
    AUDIT_CHECKPOINT_EVERY,
    AUDIT_CHECKPOINT_SECONDS,
    KILL_SWITCH,
    KILL_SWITCH_FILE,
    APP_DIR,
    REQUEST_MAX_LLM_CALLS,
    REQUEST_MAX_USD,
    REQUEST_MAX_TOKENS,
    REQUEST_MAX_SECONDS,
    SHUTDOWN_TIMEOUT,
)


def app_path(value: str, app_dir: str = "") -> Path:
    """Where a file setting's ``value`` is: as given when absolute, else under ``app_dir`` (default
    ``GLASSBOX_APP_DIR``; a relative one, and an empty one, start from the working directory)."""
    return Path(value) if Path(value).is_absolute() else Path.cwd() / (app_dir or APP_DIR.get()) / value


def check_all() -> None:
    """Parse every setting now, so that each malformed one is reported once, at start-up, on stderr (with the
    default used instead) rather than at the first request or audit event that reads it."""
    for setting in SETTINGS:
        setting.get()


def markdown_table() -> str:
    """The settings table as Markdown, for the README."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        live = " Read at each use." if s.runtime else ""
        lines.append(f"| `{s.env}` | {default} | {s.description}{live} |")
    return "\n".join(lines)
