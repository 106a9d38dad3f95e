"""Cost of one log record through glassbox's JSON path, against the stdlib plain formatter.

    python benchmarks/log_format.py --repeats 5 --records 20000

Each mode is a ``logging.Logger`` with one ``StreamHandler`` writing to an ``io.StringIO``:

* ``plain``: ``logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")``, no filter;
* ``json``: ``glassbox.sdk.logs.GlassboxLogFilter()`` on the handler and
  ``glassbox.sdk.logs.JsonLogFormatter("bench")``;
* ``json, no filter`` (for information only): the JSON formatter without the filter, to split the cost.

One record is ``log.info("answered question about %s", topic, extra={"model": ...})``. The time per record is
the best of ``--repeats`` runs of ``--records`` records, with the modes interleaved. No SDK is configured, so
the glassbox instruments are the no-op ones from ``glassbox.instruments.get()``.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time

from glassbox import instruments
from glassbox.sdk.logs import GlassboxLogFilter, JsonLogFormatter

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
TARGET_RATIO = 2.0


def make_logger(name: str, formatter: logging.Formatter, with_filter: bool) -> tuple[logging.Logger, io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    if with_filter:
        handler.addFilter(GlassboxLogFilter())
    logger = logging.Logger(name, logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    return logger, buffer


def time_records(logger: logging.Logger, buffer: io.StringIO, records: int) -> float:
    """Nanoseconds per record for ``records`` calls to ``logger.info``."""
    buffer.seek(0)
    buffer.truncate(0)
    info = logger.info
    started = time.perf_counter_ns()
    for _ in range(records):
        info("answered question about %s", "invoices", extra={"model": "gpt-4o-mini"})
    return (time.perf_counter_ns() - started) / records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args(argv)

    instruments.get()  # the no-op instruments, created before timing
    modes = {
        "plain": make_logger("bench.plain", logging.Formatter(PLAIN_FORMAT), with_filter=False),
        "json": make_logger("bench.json", JsonLogFormatter("bench"), with_filter=True),
        "json, no filter": make_logger("bench.json_nofilter", JsonLogFormatter("bench"), with_filter=False),
    }
    for logger, buffer in modes.values():
        time_records(logger, buffer, min(1000, args.records))
    best: dict[str, float] = {name: float("inf") for name in modes}
    for _ in range(args.repeats):
        for name, (logger, buffer) in modes.items():
            best[name] = min(best[name], time_records(logger, buffer, args.records))

    sample = {name: buffer.getvalue().splitlines()[-1] for name, (_, buffer) in modes.items()}
    ratio = best["json"] / best["plain"]
    print(f"Best of {args.repeats} x {args.records} records per mode, Python {sys.version.split()[0]}.")
    print()
    print("| mode | ns/record |")
    print("|---|---|")
    for name, ns in best.items():
        print(f"| {name} | {ns:,.0f} |")
    print()
    print(f"json/plain = {ratio:.2f} (target <= {TARGET_RATIO:.1f}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print(f"json, no filter/plain = {best['json, no filter'] / best['plain']:.2f} (for information)")
    print()
    print("Sample lines:")
    for name, line in sample.items():
        print(f"- {name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
