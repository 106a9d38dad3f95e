"""The guard's instrumentor: wraps the model SDKs' calls with wrapt, and stays the outermost layer.

:class:`GuardInstrumentor` wraps the ``openai`` (chat completions and their ``parse`` helper, responses,
embeddings), ``anthropic`` (messages and ``messages.stream``) and ``google-genai`` (``generate_content`` and
``generate_content_stream``) calls, sync and async, and the Bedrock runtime's ``converse``, ``converse_stream``,
``invoke_model`` and ``invoke_model_with_response_stream`` (``boto3``), and LiteLLM's ``completion`` and
``acompletion`` (any provider), with
``wrapt.wrap_function_wrapper``, so that a refused call makes no request and no GenAI span. It reads its
settings once when it instruments (:func:`glassbox.guard.core.configure`).

The upstream GenAI instrumentations wrap the same methods, and their ``uninstrument()`` removes whatever layer is
on top. So while the guard is instrumented, any other instrumentor's ``instrument()`` or ``uninstrument()``
runs with the guard's layers lifted and puts them back on top afterwards: each instrumentor adds and removes its
own layer, in any order. ``uninstrument()`` removes the guard's layers wherever they are. LiteLLM is guarded
when the app imports it (:data:`WHEN_IMPORTED`), and the guard then goes back on top of its functions.

A conversation passed as a one-pass iterable (a generator of messages for ``messages``, ``input`` or ``contents``,
or LiteLLM's positional ``messages``) is read into a list before the guard looks at it, and the SDK is called with
that list: the guardrail scores the very items the SDK sends.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from glassbox.guard import core
from glassbox.guard.request import is_one_pass, materialise

# (module, class, method, kind of call) of the SDK calls the guard stands in front of.
TARGETS = (
    ("openai.resources.chat.completions", "Completions", "create", core.OPENAI_CHAT),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", core.OPENAI_CHAT),
    ("openai.resources.chat.completions", "Completions", "parse", core.OPENAI_CHAT_PARSE),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", core.OPENAI_CHAT_PARSE),
    ("openai.resources.responses", "Responses", "create", core.OPENAI_RESPONSES),
    ("openai.resources.responses", "AsyncResponses", "create", core.OPENAI_RESPONSES),
    ("openai.resources.embeddings", "Embeddings", "create", core.OPENAI_EMBEDDINGS),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", core.OPENAI_EMBEDDINGS),
    ("anthropic.resources.messages", "Messages", "create", core.ANTHROPIC_MESSAGES),
    ("anthropic.resources.messages", "AsyncMessages", "create", core.ANTHROPIC_MESSAGES),
    ("anthropic.resources.messages", "Messages", "stream", core.ANTHROPIC_MESSAGES_STREAM),
    ("anthropic.resources.messages", "AsyncMessages", "stream", core.ANTHROPIC_MESSAGES_STREAM),
    ("google.genai.models", "Models", "generate_content", core.GEMINI_GENERATE),
    ("google.genai.models", "AsyncModels", "generate_content", core.GEMINI_GENERATE),
    ("google.genai.models", "Models", "generate_content_stream", core.GEMINI_GENERATE_STREAM),
    ("google.genai.models", "AsyncModels", "generate_content_stream", core.GEMINI_GENERATE_STREAM),
    # Bedrock: every botocore operation goes through this method; the guard picks the runtime's model calls.
    ("botocore.client", "BaseClient", "_make_api_call", core.BEDROCK_SERVICE),
    # LiteLLM: module functions (no class), to whichever provider the model names.
    ("litellm", "", "completion", core.LITELLM_COMPLETION),
    ("litellm", "", "acompletion", core.LITELLM_COMPLETION),
)
# Modules too heavy to import for the guard's sake (LiteLLM: over 3 s and 200 MB; google-genai: about 0.7 s;
# botocore, which the Bedrock instrumentation waits for as well): they are guarded when the app imports them (a
# post-import hook), and a process that never does pays nothing.
WHEN_IMPORTED = frozenset({"litellm", "google.genai.models", "botocore.client"})
Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
_lock = threading.RLock()


def _decide(call: str, request: dict[str, Any], proceed: Callable[[], Any]) -> Any:
    refusal, reservation = core.admit(call, request)
    if refusal is None:
        started = core.call_started()
        with core.holding(reservation):
            answer = proceed()
        core.observe_answer(call, request, answer, started)
        return answer
    core.refuse(refusal, call, request)
    with core.falling_back(refusal) as fallback:
        return fallback(refusal, request)


def _materialise(call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Read a one-pass iterable given as the conversation (a generator of messages) into a list, in ``kwargs`` in
    place and in LiteLLM's positional ``messages``: the guard and the SDK then read the same items. Returns the
    positional arguments to call the SDK with."""
    materialise(kwargs)
    if call == core.LITELLM_COMPLETION and len(args) > 1 and is_one_pass(args[1]):
        return (args[0], list(args[1]), *args[2:])
    return args


def _request(call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments the guard reads: the SDK methods' keyword arguments, LiteLLM's resolved request."""
    return core.litellm_request(args, kwargs) if call == core.LITELLM_COMPLETION else kwargs


def _guard_sync(call: str) -> Wrapper:
    def guarded(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        args = _materialise(call, args, kwargs)
        return _decide(call, _request(call, args, kwargs), lambda: wrapped(*args, **kwargs))

    return guarded


def _guard_bedrock(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``BaseClient._make_api_call(operation_name, api_params)``: Bedrock runtime model calls are guarded, every
    other AWS operation passes untouched."""
    service = getattr(getattr(instance, "_service_model", None), "service_name", None)
    operation = args[0] if args else kwargs.get("operation_name")
    call = core.BEDROCK_OPERATIONS.get(str(operation)) if service == core.BEDROCK_SERVICE else None
    if call is None:
        return wrapped(*args, **kwargs)
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    request = core.bedrock_request(params if isinstance(params, dict) else {})
    return _decide(call, request, lambda: wrapped(*args, **kwargs))


def _guard_async(call: str) -> Wrapper:
    async def guarded(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        args = _materialise(call, args, kwargs)
        request = _request(call, args, kwargs)
        refusal, reservation = await core.admit_async(call, request)
        if refusal is None:
            started = core.call_started()
            with core.holding(reservation):
                answer = await wrapped(*args, **kwargs)
            core.observe_answer(call, request, answer, started)
            return answer
        core.refuse(refusal, call, request)
        with core.falling_back(refusal) as fallback:  # held while the answer is awaited
            answer = fallback(refusal, request)
            return await answer if inspect.isawaitable(answer) else answer

    return guarded


def _is_guard(value: Any) -> bool:
    return getattr(getattr(value, "_self_wrapper", None), "__glassbox_guard__", False) is True


def _targets() -> list[tuple[Any, str, str]]:
    """(class, or module for module functions; method; kind of call) of the targets whose SDK is installed."""
    found = []
    for module_name, class_name, method, call in TARGETS:
        if module_name in WHEN_IMPORTED and module_name not in sys.modules:
            continue
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name) if class_name else module
        except (ImportError, AttributeError):
            continue
        if getattr(cls, method, None) is not None:
            found.append((cls, method, call))
    return found


def _apply() -> list[str]:
    """Put the guard's layer on top of every target that does not have it there; returns those wrapped."""
    wrapped = []
    for cls, method, call in _targets():
        current = vars(cls).get(method, getattr(cls, method))
        if _is_guard(current):
            continue
        if call == core.BEDROCK_SERVICE:
            wrapper: Any = functools.partial(_guard_bedrock)
        else:
            asynchronous = inspect.iscoroutinefunction(inspect.unwrap(current))
            wrapper = (_guard_async if asynchronous else _guard_sync)(call)
        wrapper.__glassbox_guard__ = True
        wrapt.wrap_function_wrapper(cls, method, wrapper)
        owner = cls.__name__ if inspect.ismodule(cls) else f"{cls.__module__}.{cls.__name__}"
        wrapped.append(f"{owner}.{method}")
    return wrapped


def _lift() -> None:
    """Remove the guard's layer from every target, wherever it is in the stack of wrappers."""
    for cls, method, _call in _targets():
        outer: Any = None
        current = vars(cls).get(method)
        while isinstance(current, wrapt.BaseObjectProxy):
            if _is_guard(current):
                if outer is None:
                    setattr(cls, method, current.__wrapped__)
                else:
                    outer.__wrapped__ = current.__wrapped__
                break
            outer, current = current, current.__wrapped__


def _others_around_the_guard(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Another instrumentor's instrument()/uninstrument(): done with the guard lifted, then the guard on top."""
    if isinstance(instance, GuardInstrumentor) or not GuardInstrumentor().is_instrumented_by_opentelemetry:
        return wrapped(*args, **kwargs)
    with _lock:
        _lift()
        try:
            return wrapped(*args, **kwargs)
        finally:
            _apply()


def keep_on_top(_module: Any = None) -> None:
    """Wrap the targets of a module imported after the guard was instrumented (its post-import hook), with the
    guard on top of every target."""
    if not GuardInstrumentor().is_instrumented_by_opentelemetry:
        return
    with _lock:
        _lift()
        GuardInstrumentor.guarded = _apply()


class GuardInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """The guard in front of the model SDKs (idempotent; ``uninstrument()`` removes it)."""

    guarded: ClassVar[list[str]] = []
    _hooked: ClassVar[bool] = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        core.configure()
        # The series exist from the start (at 0), so alerts and panels see the first refusal as an increase.
        core.refused_counter().add(0, {"reason": "kill_switch"})
        with _lock:
            GuardInstrumentor.guarded = _apply()
            wrapt.wrap_function_wrapper(BaseInstrumentor, "instrument", _others_around_the_guard)
            wrapt.wrap_function_wrapper(BaseInstrumentor, "uninstrument", _others_around_the_guard)
        if not GuardInstrumentor._hooked:  # once: the hook does nothing while the guard is not instrumented
            GuardInstrumentor._hooked = True
            for module_name in WHEN_IMPORTED:
                wrapt.register_post_import_hook(keep_on_top, module_name)

    def _uninstrument(self, **kwargs: Any) -> None:
        with _lock:
            unwrap(BaseInstrumentor, "instrument")
            unwrap(BaseInstrumentor, "uninstrument")
            _lift()
            GuardInstrumentor.guarded = []
