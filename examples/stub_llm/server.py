"""A local stand-in for the OpenAI and Anthropic HTTP APIs, so the demo and the tests run offline.

It speaks enough of both wire formats for the real `openai` and `anthropic` SDKs:

* OpenAI: ``POST /v1/chat/completions`` (plain, streaming with ``stream_options.include_usage``,
  tool calls) and ``POST /v1/embeddings``.
* Anthropic: ``POST /v1/messages`` (plain, streaming server-sent events, tool use).
* Gemini (``google-genai``): ``POST /v1/models/{model}:generateContent`` (or ``/v1beta/``) and
  ``:streamGenerateContent`` (server-sent events with ``alt=sse``), with ``usageMetadata`` (cached tokens with
  ``cachedContent``, thoughts with a thinking budget) and function calls.
* Amazon Bedrock (``boto3`` ``bedrock-runtime``): ``POST /model/{modelId}/converse``, ``/converse-stream`` (the
  AWS event-stream encoding; system text before a ``cachePoint`` is reported as read from the cache) and
  ``/invoke`` (Anthropic's messages body, for Anthropic model ids).

Behaviour is configurable from the command line or the environment:

* ``--latency-ms`` / ``STUB_LATENCY_MS``: added before each answer (mean; jitter is +-25%).
* ``--error-rate`` / ``STUB_ERROR_RATE``: share of requests answered with a 500 error (0..1).
* A prompt containing "Rate the answer" (an LLM judge's) gets a JSON verdict: score 0.9, or 0.1 when the rated
  answer contains "[draft]".
* ``--models`` / ``STUB_MODELS``: comma-separated model names that exist; any other gives a 404.
* A request header ``x-stub-status: 429|500|529`` forces that error for one request (tests use it).
* The model ``outage-model`` always answers 503, as a provider that is down (the demo's 5xx errors).

Token counts are deterministic: one token per whitespace-separated word (at least one), so tests can
assert exact usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

OUTAGE_MODEL = "outage-model"
DEFAULT_MODELS = (
    "gpt-4o,gpt-4o-mini,text-embedding-3-small,claude-sonnet-4-5,claude-haiku-4-5,gemini-2.5-flash,gemini-2.5-pro,"
    "amazon.nova-lite-v1:0,anthropic.claude-3-5-haiku-20241022-v1:0,experimental-model-x"
)


def event_stream_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One message of the AWS event-stream encoding (``application/vnd.amazon.eventstream``)."""
    import struct
    import zlib

    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        encoded = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


EMBEDDING_DIMENSIONS = 8


class StubConfig:
    def __init__(self, latency_ms: float, error_rate: float, models: str, seed: int | None) -> None:
        self.latency_s = max(0.0, latency_ms) / 1000.0
        self.error_rate = min(1.0, max(0.0, error_rate))
        self.models = {m.strip() for m in models.split(",") if m.strip()}
        self.random = random.Random(seed)


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif isinstance(block.get("content"), str):
                    parts.append(block["content"])
        return " ".join(parts)
    return ""


# Thinking tokens a Gemini answer reports when the request allows thinking (at most its budget).
THOUGHT_TOKENS = 12


# A judge's prompt (glassbox's online evaluators) asks for a verdict: the stub gives one, as JSON, so evaluators can
# be tried offline. An answer marked "[draft]" is rated 0.1, any other 0.9.
JUDGE_MARKER = "Rate the answer"


def _answer_for(prompt: str) -> str:
    if JUDGE_MARKER in prompt:
        bad = "[draft]" in prompt
        return json.dumps({
            "score": 0.1 if bad else 0.9,
            "label": "unhelpful" if bad else "helpful",
            "explanation": "the stub's verdict",
        })  # fmt: skip
    words = prompt.split()
    topic = " ".join(words[-3:]) if words else "your request"
    return f"Here is a short answer about {topic}. It is generated locally by the stub."


class StubLLM:
    def __init__(self, config: StubConfig) -> None:
        self.config = config

    async def _pause(self) -> None:
        if self.config.latency_s:
            jitter = self.config.random.uniform(0.75, 1.25)
            await asyncio.sleep(self.config.latency_s * jitter)

    def _forced_or_random_error(self, request: Request, model: str) -> int | None:
        if model == OUTAGE_MODEL:
            return 503
        forced = request.headers.get("x-stub-status")
        if forced and forced.isdigit():
            return int(forced)
        if self.config.error_rate and self.config.random.random() < self.config.error_rate:
            return 500
        return None

    # ---------------------------------------------------------------- OpenAI
    def _openai_error(self, status: int, message: str, code: str) -> JSONResponse:
        kind = {404: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
        return JSONResponse(
            {"error": {"message": message, "type": kind, "param": None, "code": code}},
            status_code=status,
        )

    async def _openai_guard(self, request: Request, body: dict[str, Any]) -> JSONResponse | None:
        await self._pause()
        status = self._forced_or_random_error(request, body.get("model", ""))
        if status is not None:
            return self._openai_error(status, f"stub error {status}", f"stub_{status}")
        model = body.get("model", "")
        if model not in self.config.models:
            return self._openai_error(404, f"The model `{model}` does not exist", "model_not_found")
        return None

    async def chat_completions(self, request: Request) -> Response:
        body = await request.json()
        error = await self._openai_guard(request, body)
        if error is not None:
            return error
        model = body["model"]
        messages = body.get("messages", [])
        prompt = " ".join(_text_of(m.get("content")) for m in messages)
        input_tokens = count_tokens(prompt)
        tools = body.get("tools") or []
        wants_tool = bool(tools) and (not messages or messages[-1].get("role") != "tool")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if wants_tool:
            function = tools[0].get("function", {})
            tool_call = {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": function.get("name", "tool"), "arguments": json.dumps({"query": prompt[-40:]})},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
            finish_reason = "tool_calls"
            text = ""
            output_tokens = 8
        else:
            text = _answer_for(prompt)
            message = {"role": "assistant", "content": text}
            finish_reason = "stop"
            output_tokens = count_tokens(text)
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            def chunk(delta: dict[str, Any], finish: str | None, with_usage: bool = False) -> bytes:
                payload: dict[str, Any] = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                if with_usage:
                    payload["usage"] = usage
                return f"data: {json.dumps(payload)}\n\n".encode()

            yield chunk({"role": "assistant", "content": ""}, None)
            if wants_tool:
                yield chunk({"tool_calls": [{"index": 0, **message["tool_calls"][0]}]}, None)
            else:
                for word in text.split(" "):
                    yield chunk({"content": word + " "}, None)
            yield chunk({}, finish_reason)
            if include_usage:
                yield chunk({}, None, with_usage=True)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        body = await request.json()
        error = await self._openai_guard(request, body)
        if error is not None:
            return error
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        data = []
        total = 0
        for index, text in enumerate(inputs):
            text = str(text)
            total += count_tokens(text)
            seed = sum(text.encode()) or 1
            vector = [((seed * (i + 7)) % 97) / 97.0 for i in range(EMBEDDING_DIMENSIONS)]
            data.append({"object": "embedding", "index": index, "embedding": vector})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": total, "total_tokens": total},
            }
        )

    # ------------------------------------------------------------- Anthropic
    def _anthropic_error(self, status: int, message: str) -> JSONResponse:
        kind = {
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        await self._pause()
        status = self._forced_or_random_error(request, body.get("model", ""))
        if status is not None:
            return self._anthropic_error(status, f"stub error {status}")
        model = body.get("model", "")
        if model not in self.config.models:
            return self._anthropic_error(404, f"model: {model}")
        messages = body.get("messages", [])
        prompt = " ".join(_text_of(m.get("content")) for m in messages)
        # The system prompt stands for a cached prefix: read from the prompt cache, not counted as input.
        system = _text_of(body.get("system", ""))
        cached_tokens = count_tokens(system) if system.strip() else 0
        input_tokens = count_tokens(prompt)
        tools = body.get("tools") or []
        last = messages[-1] if messages else {}
        last_is_tool_result = isinstance(last.get("content"), list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"]
        )
        wants_tool = bool(tools) and not last_is_tool_result
        message_id = f"msg_{uuid.uuid4().hex[:24]}"
        if wants_tool:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:12]}",
                "name": tools[0].get("name", "tool"),
                "input": {"query": prompt.strip()[-40:]},
            }
            stop_reason = "tool_use"
            output_tokens = 8
        else:
            text = _answer_for(prompt)
            block = {"type": "text", "text": text}
            stop_reason = "end_turn"
            output_tokens = count_tokens(text)
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached_tokens,
        }
        full = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return JSONResponse(full)

        async def events() -> AsyncIterator[bytes]:
            def event(name: str, payload: dict[str, Any]) -> bytes:
                return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()

            start = dict(full, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
            yield event("message_start", {"type": "message_start", "message": start})
            if block["type"] == "text":
                yield event(
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                )
                for word in block["text"].split(" "):
                    yield event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": word + " "},
                        },
                    )
            else:
                yield event(
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": dict(block, input={})},
                )
                yield event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                    },
                )
            yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
            yield event("message_stop", {"type": "message_stop"})

        return StreamingResponse(events(), media_type="text/event-stream")

    # ---------------------------------------------------------------- Gemini
    def _gemini_error(self, status: int, message: str) -> JSONResponse:
        kind = {404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
        return JSONResponse({"error": {"code": status, "message": message, "status": kind}}, status_code=status)

    async def gemini(self, request: Request) -> Response:
        model, _, method = request.path_params["target"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return self._gemini_error(404, f"unknown method {method!r}")
        body = await request.json()
        await self._pause()
        status = self._forced_or_random_error(request, model)
        if status is not None:
            return self._gemini_error(status, f"stub error {status}")
        if model not in self.config.models:
            return self._gemini_error(404, f"models/{model} is not found")
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        texts = [part.get("text", "") for part in system.get("parts", []) if isinstance(part, dict)]
        for content in body.get("contents", []):
            texts += [part.get("text", "") for part in content.get("parts", []) if isinstance(part, dict)]
        prompt = " ".join(t for t in texts if t)
        text = _answer_for(prompt)
        # Function calling: with declared functions, the first turn calls the first one; once the last turn
        # carries its result, the model answers in text.
        declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
        contents = body.get("contents") or [{}]
        answered = any("functionResponse" in part for part in contents[-1].get("parts", []) if isinstance(part, dict))
        call = None
        if declarations and not answered:
            call = {"name": declarations[0].get("name", "tool"), "args": {"query": prompt[-40:]}}
            text = json.dumps(call)
        input_tokens, output_tokens = count_tokens(prompt), count_tokens(text)
        usage = {
            "promptTokenCount": input_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": input_tokens + output_tokens,
        }
        # Context caching and thinking, as Gemini reports them: cached tokens are part of the prompt's, thoughts
        # are apart from the candidates' (both in the total).
        if body.get("cachedContent"):
            usage["cachedContentTokenCount"] = input_tokens // 2
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        budget = thinking.get("thinkingBudget") or thinking.get("thinking_budget") or 0  # the API takes both
        if budget > 0:
            usage["thoughtsTokenCount"] = min(budget, THOUGHT_TOKENS)
            usage["totalTokenCount"] += usage["thoughtsTokenCount"]
        response_id = uuid.uuid4().hex[:20]

        def payload(chunk: str, finish: bool) -> dict[str, Any]:
            part = {"functionCall": call} if call else {"text": chunk}
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
            data: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
            if finish:
                candidate["finishReason"] = "STOP"
                data["usageMetadata"] = usage
            return data

        if method == "generateContent":
            return JSONResponse(payload(text, finish=True))
        words = text.split(" ")
        pieces = [text] if call else [" ".join(words[:3]) + " ", " ".join(words[3:])]

        async def events() -> AsyncIterator[bytes]:
            for index, piece in enumerate(pieces):
                yield f"data: {json.dumps(payload(piece, finish=index == len(pieces) - 1))}\r\n\r\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")

    # ---------------------------------------------------------------- Bedrock
    def _bedrock_error(self, status: int, message: str) -> JSONResponse:
        kind = {404: "ResourceNotFoundException", 429: "ThrottlingException"}.get(status, "InternalServerException")
        return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": kind})

    async def bedrock(self, request: Request) -> Response:
        model, action = request.path_params["model"], request.path_params["action"]
        body = await request.json()
        await self._pause()
        status = self._forced_or_random_error(request, model)
        if status is not None:
            return self._bedrock_error(status, f"stub error {status}")
        if model not in self.config.models:
            return self._bedrock_error(404, f"The model {model} is not found")
        if action == "invoke":  # Anthropic's messages format inside Bedrock
            prompt = " ".join(_text_of(m.get("content")) for m in body.get("messages", []))
            text = _answer_for(prompt)
            return JSONResponse(
                {"id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant", "model": model,
                 "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                 "usage": {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(text)}}
            )  # fmt: skip
        system = [block for block in body.get("system", []) if isinstance(block, dict)]
        texts = [block.get("text", "") for block in system]
        for message in body.get("messages", []):
            texts += [block.get("text", "") for block in message.get("content", []) if isinstance(block, dict)]
        prompt = " ".join(t for t in texts if t)
        text = _answer_for(prompt)
        # Prompt caching: the system text before a cachePoint block is read from the cache. As Bedrock reports
        # it, inputTokens leaves the cached tokens out and totalTokens adds them.
        marks = [i for i, block in enumerate(system) if "cachePoint" in block]
        cached = count_tokens(" ".join(b.get("text", "") for b in system[: marks[0]])) if marks else 0
        usage = {"inputTokens": count_tokens(prompt) - cached, "outputTokens": count_tokens(text)}
        if cached:
            usage.update(cacheReadInputTokens=cached, cacheWriteInputTokens=0)
        usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"] + cached
        if action == "converse":
            return JSONResponse(
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                    "stopReason": "end_turn",
                    "usage": usage,
                    "metrics": {"latencyMs": int(self.config.latency_s * 1000)},
                }
            )
        if action != "converse-stream":
            return self._bedrock_error(404, f"unknown action {action!r}")
        words = text.split(" ")
        events = [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " ".join(words[:3]) + " "}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " ".join(words[3:])}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("messageStop", {"stopReason": "end_turn"}),
            ("metadata", {"usage": usage, "metrics": {"latencyMs": int(self.config.latency_s * 1000)}}),
        ]

        async def stream() -> AsyncIterator[bytes]:
            for name, payload in events:
                yield event_stream_message(name, payload)

        return StreamingResponse(stream(), media_type="application/vnd.amazon.eventstream")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": sorted(self.config.models)})


def build_app(config: StubConfig) -> Starlette:
    stub = StubLLM(config)
    return Starlette(
        routes=[
            Route("/v1/chat/completions", stub.chat_completions, methods=["POST"]),
            Route("/v1/embeddings", stub.embeddings, methods=["POST"]),
            Route("/v1/messages", stub.messages, methods=["POST"]),
            Route("/v1/models/{target}", stub.gemini, methods=["POST"]),
            Route("/model/{model}/{action}", stub.bedrock, methods=["POST"]),
            Route("/v1beta/models/{target}", stub.gemini, methods=["POST"]),
            Route("/health", stub.health, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("STUB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STUB_PORT", "8900")))
    parser.add_argument("--latency-ms", type=float, default=float(os.environ.get("STUB_LATENCY_MS", "20")))
    parser.add_argument("--error-rate", type=float, default=float(os.environ.get("STUB_ERROR_RATE", "0")))
    parser.add_argument("--models", default=os.environ.get("STUB_MODELS", DEFAULT_MODELS))
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    config = StubConfig(args.latency_ms, args.error_rate, args.models, args.seed)
    uvicorn.run(build_app(config), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
