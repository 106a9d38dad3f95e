"""Baggage that stays with the hosts you name: W3C baggage injected only into requests to an allowlist.

OpenTelemetry's W3C baggage propagator writes every baggage entry (tenant, user id, anything an upstream put
there) into every outgoing request, model providers and other third parties included.
:class:`AllowlistedBaggagePropagator`, registered as the ``glassbox_baggage`` propagator (entry point group
``opentelemetry_propagator``, so ``OTEL_PROPAGATORS=tracecontext,glassbox_baggage`` names it), injects the
``baggage`` header only when the request goes to a host of ``GLASSBOX_BAGGAGE_HOSTS``:

* The destination is read from the span current at inject time. The HTTP client instrumentations (httpx,
  requests, aiohttp) start their client span, make it current, then inject; the GenAI instrumentations' client
  spans name the provider's host too. Only a CLIENT or PRODUCER span counts (a server span's
  ``server.address`` is this service's own name, as the client sent it), through ``server.address``, else
  the host of ``url.full`` or ``http.url``, else ``net.peer.name``. With no known destination (no such span,
  a span that is not recorded, an MCP request's ``_meta``), nothing is injected.
* Allowlist entries are host names or addresses (``orders.internal``, ``10.0.0.7``), ``*.example.com`` for
  every subdomain of ``example.com``, or ``*`` for every destination, unknown ones included (the W3C
  propagator's behaviour). Empty (the default): no host gets baggage.
* Glassbox's own keys (tenant, user, session, request id) are injected from :func:`glassbox.attribution.current`,
  so they are always validated values from the configured source, never what a client put in its baggage.

Trace context is another propagator (``tracecontext``) and still goes everywhere. Extraction is the W3C
propagator's, after which glassbox's keys are checked: validated (``_invalid`` when not valid, counted) under
``GLASSBOX_ATTRIBUTION_SOURCE=headers``, dropped under ``app``.

:func:`decode_baggage` and :func:`encode_baggage` parse and write a ``baggage`` header with the W3C propagator
itself, so the edge strips exactly the keys OpenTelemetry would decode (``glassbox.tenant.id%20``,
``glassbox.tenant.id+`` and ``glassbox.tenant.id%09`` all decode to ``glassbox.tenant.id``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context, get_current
from opentelemetry.propagators import textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from glassbox import attribution, instruments, settings
from glassbox import conventions as c

_logger = logging.getLogger(__name__)

ENTRY_POINT_NAME = "glassbox_baggage"
# What the glassbox distro selects when OTEL_PROPAGATORS is not set.
DEFAULT_PROPAGATORS = f"tracecontext,{ENTRY_POINT_NAME}"
_BAGGAGE_HEADER = "baggage"
_W3C = W3CBaggagePropagator()
_OUTGOING_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER)
_URL_ATTRIBUTES = ("url.full", "http.url")


def decode_baggage(header: str) -> dict[str, object]:
    """The entries of one ``baggage`` header value, decoded as OpenTelemetry's W3C propagator decodes them."""
    return dict(baggage.get_all(_W3C.extract({_BAGGAGE_HEADER: header}, Context())))


def encode_baggage(entries: Mapping[str, object]) -> str | None:
    """``entries`` as a ``baggage`` header value, encoded as the W3C propagator encodes them (None: empty)."""
    context = Context()
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context)
    return carrier.get(_BAGGAGE_HEADER)


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class HostAllowlist:
    """Which hosts may receive baggage: exact names or addresses, ``*.domain`` for subdomains, ``*`` for all."""

    def __init__(self, spec: str) -> None:
        self.everything = False
        self._exact: set[str] = set()
        self._suffixes: list[str] = []
        for raw in spec.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                self.everything = True
            elif entry.startswith("*.") and len(entry) > 2 and "*" not in entry[2:]:
                self._suffixes.append("." + _normal_host(entry[2:]))
            elif "*" not in entry and "/" not in entry:
                self._exact.add(_normal_host(entry))
            else:
                _logger.warning("glassbox: ignoring %r in GLASSBOX_BAGGAGE_HOSTS (not a host or *.domain)", raw)
        self._decided: dict[str, bool] = {}
        self.allows_some = self.everything or bool(self._exact or self._suffixes)

    def allows(self, host: str | None) -> bool:
        if self.everything:
            return True
        if not host:
            return False
        decided = self._decided.get(host)
        if decided is None:
            name = _normal_host(host)
            decided = name in self._exact or any(name.endswith(suffix) for suffix in self._suffixes)
            if len(self._decided) >= 1024:
                self._decided.clear()
            self._decided[host] = decided
        return decided


def destination_host(context: Context | None = None) -> str | None:
    """The host the outgoing request being made in ``context`` goes to, from its client span, or None."""
    span = trace.get_current_span(context)
    if getattr(span, "kind", None) not in _OUTGOING_KINDS:
        return None
    attributes: Mapping[str, Any] | None = getattr(span, "attributes", None)
    if not attributes:
        return None
    address = attributes.get("server.address")
    if isinstance(address, str) and address:
        return address
    for key in _URL_ATTRIBUTES:
        url = attributes.get(key)
        if isinstance(url, str) and url:
            try:
                host = urlsplit(url).hostname
            except ValueError:
                host = None
            if host:
                return host
    peer = attributes.get("net.peer.name")
    return peer if isinstance(peer, str) and peer else None


def outgoing_entries(context: Context | None = None) -> dict[str, object]:
    """The baggage to send from ``context``: its entries, with glassbox's keys from the validated attribution."""
    entries = {key: value for key, value in baggage.get_all(context).items() if key not in c.ATTRIBUTION_KEYS}
    entries.update(attribution.current(context))
    return entries


class AllowlistedBaggagePropagator(textmap.TextMapPropagator):
    """W3C baggage, injected only into requests to an allowed host (see the module's description)."""

    def __init__(self, hosts: str | None = None) -> None:
        self.allowlist = HostAllowlist(settings.BAGGAGE_HOSTS.get() if hosts is None else hosts)

    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        base = get_current() if context is None else context
        extracted = _W3C.extract(carrier, base, getter)
        if extracted is base:
            return extracted
        try:
            return _checked_attribution(extracted, base)
        except Exception:
            _count_error()
            return extracted

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        try:
            if not self.allowlist.allows_some or not self.allowlist.allows(destination_host(context)):
                return
            entries = outgoing_entries(context)
            if entries:
                value = encode_baggage(entries)
                if value:
                    setter.set(carrier, _BAGGAGE_HEADER, value)
        except Exception:
            _count_error()

    @property
    def fields(self) -> set[str]:
        return {_BAGGAGE_HEADER}


def _checked_attribution(extracted: Context, base: Context) -> Context:
    """``extracted`` with the glassbox keys the carrier brought validated (``headers``) or dropped (``app``)."""
    before = baggage.get_all(base)
    after = baggage.get_all(extracted)
    app_mode = attribution.source() == attribution.SOURCE_APP
    context = extracted
    for key in c.ATTRIBUTION_KEYS:
        value = after.get(key)
        if value is None or value is before.get(key):
            continue
        if app_mode:
            previous = before.get(key)
            context = (
                baggage.remove_baggage(key, context)
                if previous is None
                else baggage.set_baggage(key, previous, context)
            )
        else:
            checked = attribution.validate(key, str(value), attribution.count_invalid)
            if checked != value:
                context = baggage.set_baggage(key, checked, context)
    return context


def _count_error() -> None:
    instruments.count_dropped_quietly("traces", "propagation_error")


def default_propagator() -> textmap.TextMapPropagator:
    """The propagators of ``DEFAULT_PROPAGATORS``: W3C trace context everywhere, baggage to allowed hosts."""
    return CompositePropagator([TraceContextTextMapPropagator(), AllowlistedBaggagePropagator()])


def plain_baggage_configured(propagators: str | None) -> bool:
    """Whether an ``OTEL_PROPAGATORS`` value selects OpenTelemetry's plain ``baggage`` propagator (every host
    gets every baggage entry), for warnings."""
    if propagators is None or not propagators.strip():
        return False
    return any(name.strip().lower() == "baggage" for name in propagators.split(","))
