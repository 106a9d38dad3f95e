"""Ready-made fallbacks for refused model calls: a canned answer in the SDK's own response types.

    glassbox.set_fallback(glassbox.canned_answer("The assistant is paused; please try again in a few minutes."))

The answer has the type the caller's code expects from the call that was refused: an ``openai``
``ChatCompletion`` (or, for ``stream=True``, an iterator of ``ChatCompletionChunk`` usable with ``for`` and
``async for``), an ``anthropic`` ``Message`` (or its stream events), a ``google-genai``
``GenerateContentResponse`` (or, from ``generate_content_stream``, a stream of one), for Bedrock's
``converse`` and ``converse_stream``, boto3's response dict (with the stream's events under ``stream``) and, for
LiteLLM, a ``ModelResponse`` (or a stream of ``ModelResponseStream`` chunks). Its id
(for Bedrock ``ResponseMetadata.RequestId``) starts with ``glassbox-fallback-`` and ``is_fallback(answer)``
tells it apart; its usage is zero tokens. Calls whose caller expects more than text get the refusal raised:
embeddings, responses, ``chat.completions.parse`` (structured output), anthropic's ``messages.stream`` and
Bedrock's ``invoke_model`` (a body in the model provider's own format).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from glassbox.guard.core import (
    ANTHROPIC_MESSAGES,
    BEDROCK_CONVERSE,
    BEDROCK_CONVERSE_STREAM,
    GEMINI_GENERATE,
    GEMINI_GENERATE_STREAM,
    LITELLM_COMPLETION,
    OPENAI_CHAT,
    AICallRefused,
    Fallback,
)

ID_PREFIX = "glassbox-fallback-"


def is_fallback(answer: Any) -> bool:
    """Whether ``answer`` (a response or a stream) came from a glassbox canned answer, not from a model."""
    if isinstance(answer, dict):  # boto3 answers are dicts
        answer_id = (answer.get("ResponseMetadata") or {}).get("RequestId", "")
    else:
        answer_id = getattr(answer, "id", None) or getattr(answer, "response_id", None) or ""
    return str(answer_id).startswith(ID_PREFIX)


class CannedStream:
    """Stream events served one by one, with ``for`` or ``async for``, like the SDKs' streams. It has the
    ``response`` the SDKs' stream helpers (``chat.completions.stream``) read and close."""

    def __init__(self, answer_id: str, events: list[Any]) -> None:
        import httpx  # the SDKs' own HTTP client, so present wherever a canned answer is served

        self.id = answer_id
        self._events = events
        self.response = httpx.Response(200, request=httpx.Request("POST", "http://glassbox.fallback/"))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._events)

    async def __aiter__(self) -> AsyncIterator[Any]:
        for event in self._events:
            yield event

    def close(self) -> None:
        """Nothing to release (the SDK streams have it)."""

    async def aclose(self) -> None:
        """Nothing to release."""


class CannedRawResponse:
    """What ``with_raw_response`` returns (the openai SDK sends a ``X-Stainless-Raw-Response`` header for it, and
    frameworks such as LangChain call it): ``parse()`` gives the canned answer."""

    def __init__(self, answer: Any) -> None:
        import httpx  # as above: the SDKs' HTTP client, not a dependency of glassbox

        self._answer = answer
        self.http_response = httpx.Response(200, request=httpx.Request("POST", "http://glassbox.fallback/"))
        self.headers = self.http_response.headers
        self.status_code = 200

    def parse(self, **_: Any) -> Any:
        return self._answer


def _raw_response_requested(call: dict[str, Any]) -> bool:
    headers = call.get("extra_headers") or {}
    return any(str(name).lower() == "x-stainless-raw-response" for name in headers)


def _openai_chat(text: str, model: str, stream: bool, answer_id: str) -> Any:
    # the app's own SDK, not a dependency of glassbox: imported only when an openai call is refused
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    created, usage = int(time.time()), {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    if not stream:
        message = {"role": "assistant", "content": text}
        return ChatCompletion.model_validate(
            {
                "id": answer_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "usage": usage,
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            }
        )

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> Any:
        return ChatCompletionChunk.model_validate(
            {
                "id": answer_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
        )

    events = [
        chunk([{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        chunk([], usage=usage),  # the usage chunk, as with stream_options={"include_usage": True}
    ]
    return CannedStream(answer_id, events)


def _anthropic_message(text: str, model: str, stream: bool, answer_id: str) -> Any:
    from anthropic.types import (  # optional SDK: imported only when an anthropic call is refused
        Message,
        RawContentBlockDeltaEvent,
        RawContentBlockStartEvent,
        RawContentBlockStopEvent,
        RawMessageDeltaEvent,
        RawMessageStartEvent,
        RawMessageStopEvent,
    )

    usage = {"input_tokens": 0, "output_tokens": 0}
    content = [{"type": "text", "text": text}]
    message = {"id": answer_id, "type": "message", "role": "assistant", "model": model,
               "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}  # fmt: skip
    if not stream:
        return Message.model_validate({**message, "content": content})
    events = [
        RawMessageStartEvent.model_validate({"type": "message_start", "message": {**message, "content": []}}),
        RawContentBlockStartEvent.model_validate(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        ),
        RawContentBlockDeltaEvent.model_validate(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
        ),
        RawContentBlockStopEvent.model_validate({"type": "content_block_stop", "index": 0}),
        RawMessageDeltaEvent.model_validate(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 0},
            }
        ),
        RawMessageStopEvent.model_validate({"type": "message_stop"}),
    ]
    return CannedStream(answer_id, events)


def _gemini_response(text: str, model: str, stream: bool, answer_id: str) -> Any:
    from google.genai import types  # optional SDK (extra "google"): imported only when a Gemini call is refused

    response = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(role="model", parts=[types.Part(text=text)]),
                finish_reason=types.FinishReason.STOP,
                index=0,
            )
        ],
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=0, candidates_token_count=0, total_token_count=0
        ),
        model_version=model,
        response_id=answer_id,
    )
    return CannedStream(answer_id, [response]) if stream else response


def _bedrock_converse(text: str, stream: bool, answer_id: str) -> dict[str, Any]:
    usage = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    metadata = {"RequestId": answer_id, "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}
    if not stream:
        return {
            "ResponseMetadata": metadata,
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": usage,
            "metrics": {"latencyMs": 0},
        }
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": text}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": usage, "metrics": {"latencyMs": 0}}},
    ]
    return {"ResponseMetadata": metadata, "stream": CannedStream(answer_id, events)}


def _litellm_response(text: str, model: str, stream: bool, answer_id: str) -> Any:
    # optional and heavy (extra "litellm"): imported only when a LiteLLM call is refused
    from litellm import ModelResponse
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

    if not stream:
        message = {"role": "assistant", "content": text}
        return ModelResponse(
            id=answer_id,
            model=model,
            choices=[{"index": 0, "finish_reason": "stop", "message": message}],
            usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        )
    events = [
        ModelResponseStream(
            id=answer_id,
            model=model,
            choices=[StreamingChoices(index=0, delta=Delta(role="assistant", content=text), finish_reason=None)],
        ),
        ModelResponseStream(
            id=answer_id, model=model, choices=[StreamingChoices(index=0, delta=Delta(), finish_reason="stop")]
        ),
    ]
    return CannedStream(answer_id, events)


def canned_answer(text: str) -> Fallback:
    """A fallback that answers every refused chat or messages call with ``text``."""

    def answer(refusal: AICallRefused, call: dict[str, Any]) -> Any:
        answer_id = f"{ID_PREFIX}{refusal.reason}-{uuid.uuid4().hex[:12]}"
        model, stream = str(call.get("model", "")), bool(call.get("stream"))
        if refusal.call == OPENAI_CHAT:
            answer = _openai_chat(text, model, stream, answer_id)
            return CannedRawResponse(answer) if _raw_response_requested(call) else answer
        if refusal.call == ANTHROPIC_MESSAGES:
            return _anthropic_message(text, model, stream, answer_id)
        if refusal.call in (GEMINI_GENERATE, GEMINI_GENERATE_STREAM):
            return _gemini_response(text, model, refusal.call == GEMINI_GENERATE_STREAM, answer_id)
        if refusal.call in (BEDROCK_CONVERSE, BEDROCK_CONVERSE_STREAM):
            return _bedrock_converse(text, refusal.call == BEDROCK_CONVERSE_STREAM, answer_id)
        if refusal.call == LITELLM_COMPLETION:
            return _litellm_response(text, model, stream, answer_id)
        raise refusal  # embeddings, or a call without a text answer

    return answer
