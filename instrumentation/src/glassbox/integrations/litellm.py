"""LiteLLM: one GenAI span per ``litellm.completion`` / ``litellm.acompletion`` call, whatever the provider.

Why this path. No official OpenTelemetry instrumentation covers LiteLLM. LiteLLM reaches most providers with its
own HTTP client, not through their SDKs, so the SDK instrumentations see nothing (an Anthropic or Gemini call
through LiteLLM would be an HTTP span with no usage and no cost, and would bypass the guard on the SDKs).
LiteLLM's own ``otel`` callback names its spans and attributes its own way and sets up its own exporter, and the
third-party instrumentations name the span ``litellm.chat`` and capture prompts by default. So Glassbox wraps the
two entry points itself, with the same ``opentelemetry-util-genai`` library the official instrumentations use:
a ``chat {model}`` CLIENT span with ``gen_ai.provider.name`` in the conventions' spelling, the provider's model
id (``anthropic/claude-haiku-4-5`` is ``claude-haiku-4-5`` of ``anthropic``), usage with cache and reasoning
tokens, and util-genai's duration, token, time-to-first-chunk and time-per-chunk metrics. The HTTP span under it
is left out as for every model call (:class:`glassbox.sdk.sampling.NestedCallSampler`), and a model span another
instrumentation opens inside it (LiteLLM's Azure path uses the openai SDK) is suppressed by util-genai.

Streams: a ``stream=True`` call's span ends when the stream is drained or closed; its usage is the last chunk's
(ask for it with ``stream_options={"include_usage": True}``, as with the openai SDK).

The guard stands in front of the same two functions (:mod:`glassbox.guard.instrumentor`), so the kill switch,
budgets, request limits and canned answers apply to every provider LiteLLM reaches.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.util.genai.handler import TelemetryHandler
from opentelemetry.util.genai.stream import AsyncStreamWrapper, SyncStreamWrapper

from glassbox import conventions as c
from glassbox.version import __version__

SCOPE = "glassbox.litellm"
# LiteLLM's provider names that the semantic conventions spell otherwise; any other passes through unchanged.
PROVIDER_NAMES: Mapping[str, str] = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "cohere_chat": "cohere",
    "watsonx": "ibm.watsonx.ai",
}


def provider_and_model(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[str, str]:
    """The semconv provider name and the provider's model id of a ``completion(model, messages, ...)`` call."""
    model = str(kwargs.get("model") or (args[0] if args else ""))
    try:
        import litellm

        model_id, provider, _key, _base = litellm.get_llm_provider(
            model, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=kwargs.get("api_base")
        )
    except Exception:  # an unknown provider: LiteLLM itself raises the clear error when the call is made
        provider, _, rest = model.partition("/")
        return (PROVIDER_NAMES.get(provider, provider), rest) if rest else ("litellm", model)
    return PROVIDER_NAMES.get(provider, provider), str(model_id)


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def _record_usage(invocation: Any, usage: Any) -> None:
    """LiteLLM reports usage in the OpenAI shape for every provider: prompt tokens include cached ones, completion
    tokens include reasoning ones; Anthropic-style cache writes come as ``cache_creation_input_tokens``."""
    if usage is None:
        return
    invocation.input_tokens = _number(_field(usage, "prompt_tokens"))
    invocation.output_tokens = _number(_field(usage, "completion_tokens"))
    prompt_details = _field(usage, "prompt_tokens_details")
    invocation.cache_read_input_tokens = _number(_field(prompt_details, "cached_tokens")) or None
    invocation.cache_creation_input_tokens = _number(_field(usage, "cache_creation_input_tokens")) or None
    invocation.thinking_tokens = _number(_field(_field(usage, "completion_tokens_details"), "reasoning_tokens")) or None


def _record_response(invocation: Any, response: Any) -> None:
    invocation.response_id = _field(response, "id")
    model = _field(response, "model")
    if model:
        invocation.response_model_name = str(model)
    reasons = [str(r) for r in (_field(choice, "finish_reason") for choice in _field(response, "choices") or []) if r]
    if reasons:
        invocation.finish_reasons = reasons
    _record_usage(invocation, _field(response, "usage"))


class _ChunkState:
    """What a stream's chunks tell about the call: the last id, model, finish reasons and usage seen."""

    _self_invocation: Any

    def _process_chunk(self, chunk: Any) -> None:
        self._self_response = getattr(self, "_self_response", {})
        for name in ("id", "model", "usage"):
            value = _field(chunk, name)
            if value:
                self._self_response[name] = value
        reasons = [_field(choice, "finish_reason") for choice in _field(chunk, "choices") or []]
        if any(reasons):
            self._self_response["choices"] = [{"finish_reason": r} for r in reasons if r]

    def _on_stream_end(self) -> None:
        _record_response(self._self_invocation, getattr(self, "_self_response", {}))
        self._self_invocation.stop()

    def _on_stream_error(self, error: BaseException) -> None:
        _record_response(self._self_invocation, getattr(self, "_self_response", {}))
        self._self_invocation.fail(error)


class _Stream(_ChunkState, SyncStreamWrapper[Any]):
    def __init__(self, stream: Any, invocation: Any) -> None:
        super().__init__(stream, invocation=invocation)
        self._self_invocation = invocation
        invocation.suspend()  # the caller's own work between chunks is not under the model call


class _AsyncStream(_ChunkState, AsyncStreamWrapper[Any]):
    def __init__(self, stream: Any, invocation: Any) -> None:
        super().__init__(stream, invocation=invocation)
        self._self_invocation = invocation
        invocation.suspend()


def _start(handler: TelemetryHandler, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    provider, model = provider_and_model(args, kwargs)
    invocation = handler.inference(provider, request_model=model, operation_name=c.OPERATION_CHAT)
    limit = _number(kwargs.get("max_tokens")) or _number(kwargs.get("max_completion_tokens"))
    if limit is not None:
        invocation.max_tokens = limit
    temperature = kwargs.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        invocation.temperature = float(temperature)
    return invocation


def _finish(invocation: Any, result: Any, kwargs: dict[str, Any], stream: type[_Stream] | type[_AsyncStream]) -> Any:
    """A returned call: a stream ends its span when drained; any other answer ends it now."""
    if kwargs.get("stream"):
        return stream(result, invocation)
    _record_response(invocation, result)
    invocation.stop()
    return result


def _completion(handler: TelemetryHandler) -> Any:
    def traced(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _start(handler, args, kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            invocation.fail(error)
            raise
        return _finish(invocation, result, kwargs, _Stream)

    return traced


def _acompletion(handler: TelemetryHandler) -> Any:
    async def traced(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _start(handler, args, kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            invocation.fail(error)
            raise
        return _finish(invocation, result, kwargs, _AsyncStream)

    return traced


class LiteLLMInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Wraps ``litellm.completion`` and ``litellm.acompletion`` (wrapt), entry point ``glassbox_litellm``.

    Under the glassbox distro it is loaded when the app imports LiteLLM (``glassbox.sdk.distro.LOAD_WHEN_IMPORTED``):
    importing it takes over 3 s and 200 MB, which a process that has it installed but never uses it should not pay.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("litellm >= 1.70",)

    def _instrument(self, **kwargs: Any) -> None:
        handler = TelemetryHandler(
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            logger_provider=kwargs.get("logger_provider"),
            instrumentation_scope_name=SCOPE,
            instrumentation_scope_version=__version__,
        )
        wrapt.wrap_function_wrapper("litellm", "completion", _completion(handler))
        wrapt.wrap_function_wrapper("litellm", "acompletion", _acompletion(handler))

    def _uninstrument(self, **kwargs: Any) -> None:
        import litellm

        unwrap(litellm, "completion")
        unwrap(litellm, "acompletion")
