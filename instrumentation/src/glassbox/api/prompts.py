"""Prompt versions: which prompt an answer was made with, so that versions can be compared.

    with glassbox.prompt("support-answer", version="7"):
        answer = client.chat.completions.create(...)

    @glassbox.prompt("support-answer", version="7")
    async def answer(question): ...

Inside the block (or the decorated function, sync or async), every GenAI span started carries
``glassbox.prompt.name`` and ``glassbox.prompt.version``, and the GenAI metric points recorded get them as labels
(token usage, operation duration, cost, evaluation results and scores): the span processor and the metric labels
of :mod:`glassbox.sdk` read :func:`current`. The metric labels are bounded: at most ``GLASSBOX_PROMPT_VERSIONS_MAX``
distinct (name, version) pairs per process; later ones are ``_other``, counted in
``glassbox.attribution.prompt_overflow``.

Each version is compared with a baseline, its previous version: ``baseline="6"`` names it; without it, it is the
next lower version of the same name that this process declared (``glassbox.prompt`` calls and decorators so far),
versions ordered numerically when made of numbers (``7`` < ``12``, ``1.9`` < ``1.10``), else as strings
(:func:`glassbox.tenant_labels.version_order`). The ``glassbox.prompt.versions`` gauge (1 per version used, label
``glassbox.prompt.baseline``) tells the ``GlassboxPromptVersionWorse`` alert which version to compare with which: PromQL
cannot order label values. A process that only ever runs the new version should name its baseline.

The prompt is a :class:`contextvars.ContextVar`: it follows the code into the asyncio tasks it starts, and an inner
block wins over an outer one until it ends. Name and version are metric labels, so each must be a short name
(letters, digits, ``_.:/@-``, 1 to 128 characters); a bad one never raises into the app: it becomes ``_invalid``
and is counted in ``glassbox.attribution.invalid`` (field ``prompt_name`` or ``prompt_version``). A version may be
given as an int (``version=7``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from glassbox import conventions as c
from glassbox import instruments
from glassbox.identifiers import LABEL_NAME

F = TypeVar("F", bound=Callable[..., Any])

_prompt: ContextVar[tuple[str, str] | None] = ContextVar("glassbox_prompt", default=None)


def current() -> tuple[str, str] | None:
    """The (name, version) of the innermost :func:`prompt` block the caller is in, checked; None outside any."""
    return _prompt.get()


def _checked(value: object, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return instruments.get().checked_label(value, field, LABEL_NAME)
    except Exception:
        instruments.count_dropped_quietly("traces", "prompt_error")
        return c.PLACEHOLDER_INVALID


class prompt:
    """Both a context manager and a decorator: the prompt (name and version) of the model calls inside."""

    def __init__(self, name: str, version: str | int, *, baseline: str | int | None = None) -> None:
        self._value = (_checked(name, "prompt_name"), _checked(version, "prompt_version"))
        self._tokens: list[Token[tuple[str, str] | None]] = []
        try:
            checked = None if baseline is None else _checked(baseline, "prompt_baseline")
            instruments.get().prompts.declare(*self._value, checked)
        except Exception:
            instruments.count_dropped_quietly("metrics", "prompt_error")

    def __enter__(self) -> None:
        self._tokens.append(_prompt.set(self._value))

    def __exit__(self, *exc: object) -> None:
        _prompt.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        value = self._value  # each call sets and resets its own token: calls may run at the same time
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _prompt.set(value)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _prompt.reset(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _prompt.set(value)
            try:
                return func(*args, **kwargs)
            finally:
                _prompt.reset(token)

        return wrapper  # type: ignore[return-value]
