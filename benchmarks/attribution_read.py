"""What validated attribution costs on the hot path: ``attribution.current()`` and the edge's baggage rewrite.

    python benchmarks/attribution_read.py --rounds 7 --calls 200000

``attribution.current()`` runs at every span start and log record. The baseline is what it did before it
validated anything: the glassbox keys of the context's baggage, copied as they are. Measured, interleaved in each
round: the baseline, ``headers`` mode (the same four keys, each validated through the cache of recent values),
``app`` mode (the values the app set, under glassbox's own context key), and a context with no attribution.
The edge's rewrite of a client's ``baggage`` header (decoded and encoded with OpenTelemetry's W3C propagator) is
compared with the rewrite that split the header by hand. Prints each median in microseconds per call, with the
spread (lowest and highest of the rounds), and the ratio to its baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "instrumentation" / "src"))

from opentelemetry import baggage  # noqa: E402
from opentelemetry.context import Context  # noqa: E402

from glassbox import attribution  # noqa: E402
from glassbox import conventions as c  # noqa: E402
from glassbox.integrations import asgi_attribution as edge  # noqa: E402

VALUES = {c.TENANT_ID: "acme", c.USER_ID: "jane@example.com", c.SESSION_ID: "s-1", c.REQUEST_ID: "req-42"}
HEADER = b"plan=gold,region=eu-west-1,glassbox.tenant.id%20=evil"
HEADERS = [(b"host", b"test"), (b"baggage", HEADER), (b"x-tenant-id", b"acme")]


def current_before(context: Context | None = None) -> dict[str, str]:
    """``attribution.current`` before validation: the baggage's glassbox keys, as they are."""
    entries = baggage.get_all(context)
    if not entries:
        return {}
    return {key: str(entries[key]) for key in c.ATTRIBUTION_KEYS if key in entries}


def rewrite_before(headers: list[tuple[bytes, bytes]], values: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The edge's rewrite that split the header by hand (and missed encoded keys)."""
    kept: list[tuple[bytes, bytes]] = []
    members: list[str] = []
    for name, value in headers:
        if name.lower() != b"baggage":
            kept.append((name, value))
            continue
        for member in value.decode("latin-1").split(","):
            key = unquote(member.split("=", 1)[0].strip())
            if key and key not in c.ATTRIBUTION_KEYS:
                members.append(member.strip())
    members.extend(f"{key}={quote(value, safe='')}" for key, value in values.items())
    if members:
        kept.append((b"baggage", ",".join(members).encode("latin-1")))
    return kept


def per_call_us(function: Callable[[], object], calls: int) -> float:
    return timeit.timeit(function, number=calls) / calls * 1e6


def describe(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.3f} us  (spread {min(samples):.3f}-{max(samples):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()

    in_baggage = Context()
    for key, value in VALUES.items():
        in_baggage = baggage.set_baggage(key, value, in_baggage)
    own = attribution.with_attribution(VALUES, Context())
    empty = Context()

    def headers_mode() -> object:
        return attribution.current(in_baggage)

    def app_mode() -> object:
        return attribution.current(own)

    values = {c.TENANT_ID: "acme"}
    cases: dict[str, tuple[Callable[[], object], str]] = {
        "current: before (no validation)": (lambda: current_before(in_baggage), ""),
        "current: headers mode, 4 keys": (headers_mode, "current: before (no validation)"),
        "current: no attribution": (lambda: attribution.current(empty), "current: before (no validation)"),
        "edge rewrite: before (split by hand)": (lambda: rewrite_before(HEADERS, values), ""),
        "edge rewrite: W3C propagator": (
            lambda: edge.rewrite_baggage(HEADERS, values),
            "edge rewrite: before (split by hand)",
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    samples["current: app mode, 4 keys"] = []
    for _ in range(args.rounds):
        os.environ["GLASSBOX_ATTRIBUTION_SOURCE"] = "headers"
        attribution.reset()
        for name, (function, _) in cases.items():
            samples[name].append(per_call_us(function, args.calls))
        os.environ["GLASSBOX_ATTRIBUTION_SOURCE"] = "app"
        attribution.reset()
        samples["current: app mode, 4 keys"].append(per_call_us(app_mode, args.calls))
    baselines = {name: base for name, (_, base) in cases.items()}
    baselines["current: app mode, 4 keys"] = "current: before (no validation)"
    print(f"{args.rounds} rounds of {args.calls} calls, Python {sys.version.split()[0]}")
    for name, measured in samples.items():
        base = baselines[name]
        ratio = f"  x{statistics.median(measured) / statistics.median(samples[base]):.2f} of '{base}'" if base else ""
        print(f"{name:40s} {describe(measured)}{ratio}")


if __name__ == "__main__":
    main()
