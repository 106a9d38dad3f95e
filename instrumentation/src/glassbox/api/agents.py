"""Agent and tool spans for code that no framework instrumentation covers.

``agent(name)`` and ``tool(name)`` work as context managers and as decorators (sync and async)::

    @glassbox.agent("planner")
    async def plan(question): ...

    with glassbox.tool("search_docs", call_id=call.id) as span:
        span.set_attribute("app.hits", 3)

Spans follow the GenAI semantic conventions: ``invoke_agent {name}`` and ``execute_tool {name}`` with
``gen_ai.operation.name``, ``gen_ai.agent.name`` / ``gen_ai.tool.name``, and ``error.type`` on failure.
Model calls made inside an agent carry its name, so cost can be split per agent.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from glassbox import conventions as c
from glassbox.version import __version__

F = TypeVar("F", bound=Callable[..., Any])


def _tracer() -> trace.Tracer:
    return trace.get_tracer("glassbox", __version__)


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


@contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Span]:
    with _tracer().start_as_current_span(
        name, kind=SpanKind.INTERNAL, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                span.set_attribute(c.ERROR_TYPE, _error_type(exc))
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:256]))
            raise


class _SpanFactory:
    """Both a context manager and a decorator for one kind of GenAI span."""

    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        self._name = name
        self._attributes = {k: v for k, v in attributes.items() if v is not None}
        self._open: list[Any] = []

    def __enter__(self) -> Span:
        cm = _span(self._name, self._attributes)
        self._open.append(cm)
        return cm.__enter__()

    def __exit__(self, *exc: Any) -> bool | None:
        return self._open.pop().__exit__(*exc)  # type: ignore[no-any-return]

    def __call__(self, func: F) -> F:
        name, attributes = self._name, self._attributes
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _span(name, attributes):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _span(name, attributes):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def agent(name: str, *, agent_id: str | None = None, description: str | None = None) -> _SpanFactory:
    """An ``invoke_agent {name}`` span, as a context manager or a decorator."""
    return _SpanFactory(
        f"{c.OPERATION_INVOKE_AGENT} {name}",
        {
            c.GEN_AI_OPERATION_NAME: c.OPERATION_INVOKE_AGENT,
            c.GEN_AI_AGENT_NAME: name,
            c.GEN_AI_AGENT_ID: agent_id,
            "gen_ai.agent.description": description,
        },
    )


def tool(name: str, *, call_id: str | None = None, tool_type: str = "function") -> _SpanFactory:
    """An ``execute_tool {name}`` span, as a context manager or a decorator."""
    return _SpanFactory(
        f"{c.OPERATION_EXECUTE_TOOL} {name}",
        {
            c.GEN_AI_OPERATION_NAME: c.OPERATION_EXECUTE_TOOL,
            c.GEN_AI_TOOL_NAME: name,
            c.GEN_AI_TOOL_CALL_ID: call_id,
            "gen_ai.tool.type": tool_type,
        },
    )
