"""The guard in front of every model call: a kill switch for all AI calls, tenant budgets, per-request limits.

Installed by the distro after the instrumentations (``install``), it wraps the model calls of the ``openai``
(chat completions and their ``parse``/``stream`` helpers, responses, embeddings) and ``anthropic`` (messages,
``messages.stream``) SDKs, sync and async. Before a call it checks, in order:

1. the kill switch: ``GLASSBOX_KILL_SWITCH=on`` in the environment, or the file ``GLASSBOX_KILL_SWITCH_FILE``
   exists (every process on the host sees it at its next call; ``set_kill_switch`` writes or removes it and
   audits the change);
2. the tenant's budget (``GLASSBOX_BUDGETS_FILE``, see glassbox.budgets; spend shared by the host's
   processes): a tenant (from the baggage) that has spent its day or month budget, or whose spend plus the
   least this call will cost would exceed it. That least cost is its input alone, about one token per
   ``CHARS_PER_TOKEN`` characters of its messages, at the model's input price (an unpriced model: 0);
   what the answer adds is only known after the call, which is then counted;
3. the request's limits per request id (0: no limit): ``GLASSBOX_REQUEST_MAX_LLM_CALLS`` model calls,
   ``GLASSBOX_REQUEST_MAX_USD`` and ``GLASSBOX_REQUEST_MAX_TOKENS`` spent by the calls before, and
   ``GLASSBOX_REQUEST_MAX_SECONDS`` since the request arrived (the edge middleware marks it; otherwise since
   its first model call).

A refused call is not made. It is audited (``ai.call_refused`` with the reason), added as an event to the
current span and counted in ``glassbox.ai.calls_refused`` by reason; then the fallback set with
``set_fallback`` answers instead (``glassbox.canned_answer``, or your own: a call to another model is checked
again, and raises rather than falling back a second time), or, without one, the call raises
:class:`AICallRefused`. Everything else, audit included, goes on.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from glassbox import attribution, budgets, instruments, settings
from glassbox import conventions as c
from glassbox.version import __version__

REQUESTS_TRACKED = 10_000
# Characters of prompt text per token, to estimate a call's input tokens before it is made (English text
# averages about four with the OpenAI and Anthropic tokenizers).
CHARS_PER_TOKEN = 4
# The request arguments that hold the input of each kind of call.
INPUT_ARGUMENTS = ("messages", "system", "input", "instructions", "tools")
# Parts of a message that are not text (OpenAI image_url/input_audio/file, Anthropic image/document source).
NON_TEXT_KEYS = frozenset({"image_url", "input_audio", "file", "source"})
# (module, class, method, kind of call) of the SDK calls the guard stands in front of. The kind tells a
# fallback what answer the caller expects (AICallRefused.call).
OPENAI_CHAT, OPENAI_CHAT_PARSE = "openai.chat", "openai.chat.parse"
OPENAI_RESPONSES, OPENAI_EMBEDDINGS = "openai.responses", "openai.embeddings"
ANTHROPIC_MESSAGES, ANTHROPIC_MESSAGES_STREAM = "anthropic.messages", "anthropic.messages.stream"
TARGETS = (
    ("openai.resources.chat.completions", "Completions", "create", OPENAI_CHAT),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", OPENAI_CHAT),
    ("openai.resources.chat.completions", "Completions", "parse", OPENAI_CHAT_PARSE),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", OPENAI_CHAT_PARSE),
    ("openai.resources.responses", "Responses", "create", OPENAI_RESPONSES),
    ("openai.resources.responses", "AsyncResponses", "create", OPENAI_RESPONSES),
    ("openai.resources.embeddings", "Embeddings", "create", OPENAI_EMBEDDINGS),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", OPENAI_EMBEDDINGS),
    ("anthropic.resources.messages", "Messages", "create", ANTHROPIC_MESSAGES),
    ("anthropic.resources.messages", "AsyncMessages", "create", ANTHROPIC_MESSAGES),
    ("anthropic.resources.messages", "Messages", "stream", ANTHROPIC_MESSAGES_STREAM),
    ("anthropic.resources.messages", "AsyncMessages", "stream", ANTHROPIC_MESSAGES_STREAM),
)


class AICallRefused(RuntimeError):
    """A model call the guard did not let through; ``reason`` says why."""

    def __init__(self, reason: str, detail: str, call: str = "") -> None:
        super().__init__(f"AI call refused ({reason}): {detail}")
        self.reason = reason
        self.detail = detail
        # The kind of call refused (OPENAI_CHAT, ANTHROPIC_MESSAGES, ...): what answer its caller expects.
        self.call = call


Fallback = Callable[[AICallRefused, dict[str, Any]], Any]
_fallback: Fallback | None = None
_lock = threading.Lock()
_installed = False
# request id -> [model calls, USD, tokens, monotonic time the request started or was first seen]
_requests: OrderedDict[str, list[float]] = OrderedDict()
_refused: metrics.Counter | None = None
# Set while a fallback runs: a model call it makes that is refused too raises instead of falling back again.
_in_fallback: ContextVar[bool] = ContextVar("glassbox_in_fallback", default=False)


def set_fallback(fallback: Fallback | None) -> None:
    """What answers a refused call: ``fallback(refusal, call_kwargs)`` (may be async); None: raise."""
    global _fallback
    _fallback = fallback


def kill_switch_file() -> Path:
    return Path(settings.get("GLASSBOX_KILL_SWITCH_FILE"))


def kill_switch_on() -> bool:
    return bool(settings.get("GLASSBOX_KILL_SWITCH")) or kill_switch_file().exists()


def set_kill_switch(on: bool, actor: dict[str, Any] | str | None = None, reason: str | None = None) -> None:
    """Turn all AI calls off (or back on) for every process on the host; audited as an attempt and its outcome.

    Turning the switch on is a safety action: it happens even when fail-closed audit cannot record it (the
    failure is counted like any other). Turning it off is refused then, and the switch stays on.
    """
    from glassbox.audit_events import AuditRefused, audit

    path = kill_switch_file()
    action = "kill_switch.on" if on else "kill_switch.off"
    fields: dict[str, Any] = {"actor": actor, "resource": {"type": "kill_switch", "id": str(path)}}
    try:
        audit(action, outcome="attempt", reason=reason, **fields)
    except AuditRefused:
        if not on:
            raise
    try:
        if on:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(reason or "on\n")
        else:
            path.unlink(missing_ok=True)
    except OSError as error:
        audit(action, outcome="failure", reason=f"{type(error).__name__}: {error}", **fields)
        raise
    try:
        audit(action, outcome="success", reason=reason, **fields)
    except AuditRefused:
        if not on:
            raise


def request_started(request_id: str | None) -> None:
    """The edge calls this when a request arrives: the per-request wall-time limit counts from here."""
    if request_id:
        _request_usage(request_id)[3] = time.monotonic()


def record_request_spend(request_id: str | None, usd: float, tokens: int = 0) -> None:
    """Called with each priced call's cost and tokens, for the per-request USD and token limits."""
    if request_id:
        with _lock:
            usage = _requests.get(request_id)
            if usage is not None:
                usage[1] += usd
                usage[2] += tokens


def _request_usage(request_id: str) -> list[float]:
    with _lock:
        usage = _requests.get(request_id)
        if usage is None:
            usage = _requests[request_id] = [0.0, 0.0, 0.0, time.monotonic()]
            while len(_requests) > REQUESTS_TRACKED:
                _requests.popitem(last=False)
        else:
            _requests.move_to_end(request_id)
        return usage


def _characters(value: Any) -> int:
    """Characters of text in a request argument (strings inside any nesting of lists and dicts). Images, audio
    and files (base64 or URLs) are left out: the estimate stays a lower bound."""
    if isinstance(value, str):
        return 0 if value.startswith("data:") else len(value)
    if isinstance(value, dict):
        return sum(_characters(v) for k, v in value.items() if k not in NON_TEXT_KEYS)
    if isinstance(value, (list, tuple)):
        return sum(_characters(v) for v in value)
    return 0


def estimated_input_cost(call: str, kwargs: dict[str, Any]) -> float:
    """The least a call will cost: its input tokens (estimated from its text) at the model's input price."""
    from glassbox.cost import Usage, price

    provider = call.split(".", 1)[0]
    tokens = sum(_characters(kwargs.get(name)) for name in INPUT_ARGUMENTS) // CHARS_PER_TOKEN
    cost = price(provider, str(kwargs.get("model", "")), Usage(input_tokens=tokens, output_tokens=0))
    return cost.usd or 0.0


def check(call: str = "", kwargs: dict[str, Any] | None = None) -> AICallRefused | None:
    """Why the next model call (of kind ``call``, with ``kwargs``) must not be made, or None."""
    if kill_switch_on():
        return AICallRefused("kill_switch", "the kill switch is on")
    context = attribution.current()
    tenant = context.get(c.TENANT_ID)
    if tenant:
        estimate = (lambda: estimated_input_cost(call, kwargs or {})) if call else None
        over = budgets.exhausted(instruments.get().tenants.label(tenant), estimate=estimate)
        if over:
            return AICallRefused(f"budget_{over[0]}", over[1])
    request_id = context.get(c.REQUEST_ID)
    if request_id:
        usage = _request_usage(request_id)
        max_calls, max_usd = settings.get("GLASSBOX_REQUEST_MAX_LLM_CALLS"), settings.get("GLASSBOX_REQUEST_MAX_USD")
        max_tokens, max_seconds = (
            settings.get("GLASSBOX_REQUEST_MAX_TOKENS"),
            settings.get("GLASSBOX_REQUEST_MAX_SECONDS"),
        )
        if max_calls and usage[0] >= max_calls:
            return AICallRefused("request_calls", f"request {request_id} made its {max_calls} model calls")
        if max_usd and usage[1] >= max_usd:
            return AICallRefused("request_usd", f"request {request_id} spent its {max_usd} USD")
        if max_tokens and usage[2] >= max_tokens:
            return AICallRefused("request_tokens", f"request {request_id} used its {max_tokens} tokens")
        if max_seconds and time.monotonic() - usage[3] >= max_seconds:
            return AICallRefused("request_time", f"request {request_id} ran past its {max_seconds} s")
        with _lock:
            usage[0] += 1
    return None


def _observe_kill_switch(_options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(1 if kill_switch_on() else 0)


def _metrics() -> metrics.Counter:
    """The guard's instruments, made once on the global provider: the kill-switch gauge (observed on its own)
    and the refused-calls counter, returned."""
    global _refused
    if _refused is None:
        meter = metrics.get_meter("glassbox", __version__)
        _refused = meter.create_counter(
            c.METRIC_AI_CALLS_REFUSED, unit="{call}", description="Model calls the guard did not make, by reason."
        )
        meter.create_observable_gauge(
            c.METRIC_AI_KILL_SWITCH,
            callbacks=[_observe_kill_switch],
            unit="{state}",  # not "1": the Prometheus translation would add a _ratio suffix
            description="1 while the kill switch is on for this process, else 0.",
        )
    return _refused


def _refuse(refusal: AICallRefused, call: str, kwargs: dict[str, Any]) -> None:
    """Note the kind of call on the refusal; audit, span event and metric for it. Never raises."""
    refusal.call = call
    attributes = {c.LABEL_REASON: refusal.reason, c.GEN_AI_REQUEST_MODEL: str(kwargs.get("model", ""))}
    try:
        _metrics().add(1, {c.LABEL_REASON: refusal.reason})
        trace.get_current_span().add_event(c.AI_CALL_REFUSED_EVENT, attributes)
        from glassbox.audit_events import audit

        audit("ai.call_refused", actor={"type": "system", "id": "glassbox.guard"}, outcome="refused",
              reason=refusal.detail, resource={"type": "model", "id": str(kwargs.get("model", ""))})  # fmt: skip
    except Exception:
        instruments.get().count_dropped("logs", "guard_record_error")


@contextlib.contextmanager
def _falling_back(refusal: AICallRefused) -> Iterator[Fallback]:
    """The fallback that answers ``refusal``, or the refusal raised when there is none or when a fallback is
    already running (a model call it makes that is refused too raises instead of falling back again)."""
    fallback = _fallback
    if fallback is None or _in_fallback.get():
        raise refusal
    token = _in_fallback.set(True)
    try:
        yield fallback
    finally:
        _in_fallback.reset(token)


def _wrap(original: Callable[..., Any], call: str) -> Callable[..., Any]:
    # Under the instrumentations the method is a wrapt wrapper: whether it is async is the wrapped function's.
    if inspect.iscoroutinefunction(inspect.unwrap(original)):

        @functools.wraps(original)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            refusal = check(call, kwargs)
            if refusal is None:
                return await original(*args, **kwargs)
            _refuse(refusal, call, kwargs)
            with _falling_back(refusal) as fallback:  # held while the answer is awaited
                answer = fallback(refusal, kwargs)
                return await answer if inspect.isawaitable(answer) else answer

        guarded_async.__glassbox_guard__ = True  # type: ignore[attr-defined]
        return guarded_async

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refusal = check(call, kwargs)
        if refusal is None:
            return original(*args, **kwargs)
        _refuse(refusal, call, kwargs)
        with _falling_back(refusal) as fallback:
            return fallback(refusal, kwargs)

    guarded.__glassbox_guard__ = True  # type: ignore[attr-defined]
    return guarded


def install() -> list[str]:
    """Stand in front of the SDK methods that are importable; returns the ones guarded (once per process)."""
    global _installed
    guarded = []
    with _lock:
        if _installed:
            return []
        _installed = True
    import importlib

    # The series exist from the start (at 0), so alerts and panels see the first refusal as an increase.
    _metrics().add(0, {c.LABEL_REASON: "kill_switch"})

    for module_name, class_name, method, call in TARGETS:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        original = getattr(cls, method, None)
        if original is None or getattr(original, "__glassbox_guard__", False):
            continue
        setattr(cls, method, _wrap(original, call))
        guarded.append(f"{module_name}.{class_name}.{method}")
    return guarded
