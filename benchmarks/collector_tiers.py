"""What each collector tier costs: items per CPU-second for the agent and the gateway, beside the single-host
collector, and the tail sampler's memory per 1,000 traces in flight (docs/scale.md).

    .venv/bin/python benchmarks/collector_tiers.py             # 3 rounds x 15 s per tier and signal, ~6 minutes
    .venv/bin/python benchmarks/collector_tiers.py --quick     # 1 round x 5 s, ~2 minutes

Everything is glassbox-otelcol on 127.0.0.1, loaded by the same generator as benchmarks/collector_throughput.py
(telemetrygen over OTLP/HTTP, no rate limit; every default of the configs on). The three set-ups alternate:

* ``single``: collector/config.yaml, exporting to a pass-through *sink* collector (as mode b there);
* ``agent``: collector/agent.yaml, its loadbalancing exporter sending to the sink over OTLP/gRPC as the one
  gateway (GLASSBOX_GATEWAYS);
* ``gateway``: collector/gateway.yaml fed directly, exporting to the sink; span metrics from every span, then
  tail sampling at its defaults (10% of ordinary traces; the generated ones are all ordinary).

The figure is accepted items per CPU-second of the collector under test: what one core of that tier takes when
it is the bottleneck (these are 2-core machines, shared with the generator and the sink).

Memory: one gateway with GLASSBOX_TAIL_DECISION_WAIT=30s takes traces at two fixed rates; its RSS and Go heap
after 40 s, minus the idle figures, over the traces held (spans accepted per second / 4 spans per trace x the
30 s wait), give MiB per 1,000 traces in flight.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The sibling benchmark: its generator, collector start-up and metric reading.
import collector_throughput as ct

ROOT = ct.ROOT
CONFIGS = {
    "single": ROOT / "collector" / "config.yaml",
    "agent": ROOT / "collector" / "agent.yaml",
    "gateway": ROOT / "collector" / "gateway.yaml",
}
DECISION_WAIT_S = 30
SPANS_PER_TRACE = 1 + ct.CHILD_SPANS


@contextlib.contextmanager
def tier(procs: ct.Processes, name: str, workdir: Path, limit_mib: int, **extra: str) -> Iterator[ct.Collector]:
    """The tier under test on free ports, with a pass-through sink standing in for its next hop."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    taken: set[int] = set()
    ports = {key: ct.free_port(taken) for key in ("http", "grpc", "health", "metrics")}
    sink_ports = {key: ct.free_port(taken) for key in ("http", "grpc", "loki", "health", "metrics")}
    sink_config = ct.passthrough_config(
        run_dir / "sink.yaml",
        sink_ports["http"],
        sink_ports["grpc"],
        sink_ports["health"],
        sink_ports["metrics"],
        sink_ports["loki"],
    )
    started = [ct.start_collector(procs, sink_config, ct.clean_env(), sink_ports, run_dir / "sink.log")]
    try:
        (run_dir / "data").mkdir()
        spike = max(1, limit_mib // 4)
        env = ct.pipeline_env(ports, sink_ports, run_dir / "data", limit_mib, spike, ct.free_port(taken))
        # The agent's one gateway is the sink's OTLP/gRPC port.
        env.update(GLASSBOX_GATEWAYS=f"[{ct.HOST}:{sink_ports['grpc']}]", **extra)
        dut = ct.start_collector(procs, CONFIGS[name], env, ports, run_dir / "collector.log")
        started.append(dut)
        yield dut
    finally:
        for collector in reversed(started):
            procs.stop(collector.proc)


def per_cpu_second(
    procs: ct.Processes, generator: ct.Generator, name: str, signal: str, args: argparse.Namespace, workdir: Path
) -> tuple[float, float]:
    """(accepted items/s, accepted items per CPU-second of the tier) over one timed window."""
    item = ct.ITEM[signal]
    with tier(procs, name, workdir, args.memory_limit_mib) as dut:
        try:
            generator.start(procs, signal, dut.http_port)
            time.sleep(args.warmup)
            generator.check_alive()
            before, cpu_before, t0 = ct.scrape(dut.metrics_port), ct.cpu_seconds(dut.pid), time.monotonic()
            time.sleep(args.seconds)
            generator.check_alive()
            after, cpu_after, t1 = ct.scrape(dut.metrics_port), ct.cpu_seconds(dut.pid), time.monotonic()
        finally:
            generator.stop(procs)
    name_ = f"otelcol_receiver_accepted_{item}"
    accepted = ct.metric(after, name_, receiver="otlp") - ct.metric(before, name_, receiver="otlp")
    return accepted / (t1 - t0), accepted / max(cpu_after - cpu_before, 1e-9)


def held_memory(
    procs: ct.Processes, binary: str, rate: int, args: argparse.Namespace, workdir: Path
) -> dict[str, float]:
    """One gateway holding traces for DECISION_WAIT_S at a fixed rate: RSS and heap over the idle figures."""
    with tier(procs, "gateway", workdir, 2048, GLASSBOX_TAIL_DECISION_WAIT=f"{DECISION_WAIT_S}s") as dut:
        time.sleep(3)
        idle = ct.scrape(dut.metrics_port)
        idle_rss = ct.proc_status_kib(dut.pid, "VmRSS") / 1024
        argv = [
            binary,
            "traces",
            "--otlp-endpoint",
            f"{ct.HOST}:{dut.http_port}",
            "--otlp-http",
            "--otlp-insecure",
            "--workers",
            "1",
            "--rate",
            str(rate),
            "--duration",
            "inf",
            "--child-spans",
            str(ct.CHILD_SPANS),
            "--service",
            ct.SERVICE,
        ]
        for key, value in ct.ITEM_ATTRIBUTES.items():
            argv += ["--telemetry-attributes", f"{key}={ct._attr_flag(value)}"]
        load = procs.popen(argv, ct.clean_env(), workdir / f"telemetrygen-held-{rate}.log")
        try:
            time.sleep(DECISION_WAIT_S + 10)
            first = ct.scrape(dut.metrics_port)
            t0 = time.monotonic()
            time.sleep(5)
            second = ct.scrape(dut.metrics_port)
            spans_per_s = (
                ct.metric(second, "otelcol_receiver_accepted_spans")
                - ct.metric(first, "otelcol_receiver_accepted_spans")
            ) / (time.monotonic() - t0)
            rss = ct.proc_status_kib(dut.pid, "VmRSS") / 1024
            heap = ct.metric(second, "otelcol_process_runtime_heap_alloc_bytes") / ct.MIB
        finally:
            procs.stop(load, 5.0)
    in_flight = spans_per_s / SPANS_PER_TRACE * DECISION_WAIT_S
    idle_heap = ct.metric(idle, "otelcol_process_runtime_heap_alloc_bytes") / ct.MIB
    return {"in_flight": in_flight, "rss": rss - idle_rss, "heap": heap - idle_heap}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 round x 5 s after 3 s warm-up")
    parser.add_argument("--memory-limit-mib", type=int, default=512)
    parser.add_argument("--held-rates", default="250,1000", help="traces/s for the held-memory runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 5.0, 3.0
    binary = ct.ensure_telemetrygen()
    if binary is None:
        print("telemetrygen could not be installed from the Go module proxy; see collector_throughput.py")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-tiers-"))
    procs = ct.Processes()
    generator = ct.Generator("telemetrygen", binary, 2, 4, 100, workdir / "generator")
    generator.workdir.mkdir()
    print(f"load: {generator.describe()}; logs and configs in {workdir}", flush=True)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for rnd in range(1, args.rounds + 1):
            for signal in ct.SIGNALS:
                for name in CONFIGS:
                    rate, per_cpu = per_cpu_second(procs, generator, name, signal, args, workdir)
                    results.setdefault((name, signal), []).append((rate, per_cpu))
                    print(
                        f"round {rnd} {signal:6} {name:8} {rate:10,.0f} items/s {per_cpu:10,.0f} per CPU-s", flush=True
                    )
        held = [held_memory(procs, binary, int(rate), args, workdir) for rate in args.held_rates.split(",")]
    finally:
        procs.stop_all()
    print()
    print(f"{args.rounds} rounds x {args.seconds:g} s; median (min-max) over rounds.")
    print()
    print("| tier | spans/s | spans per CPU-s | logs/s | logs per CPU-s |")
    print("|---|---|---|---|---|")
    for name in CONFIGS:
        cells = [name]
        for signal in ct.SIGNALS:
            rates = [r for r, _ in results[(name, signal)]]
            per = [p for _, p in results[(name, signal)]]
            cells += [
                f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})",
                f"{statistics.median(per):,.0f} ({min(per):,.0f}-{max(per):,.0f})",
            ]
        print("| " + " | ".join(cells) + " |")
    print()
    print(f"Tail sampling, decision wait {DECISION_WAIT_S} s:")
    for figures in held:
        print(
            f"- {figures['in_flight']:,.0f} traces in flight: "
            f"RSS +{figures['rss']:.0f} MiB, heap +{figures['heap']:.0f} MiB"
        )
    low, high = held[0], held[-1]
    if high["in_flight"] > low["in_flight"]:
        span = (high["in_flight"] - low["in_flight"]) / 1000
        print(
            "- per 1,000 traces in flight (slope between the two rates): "
            f"RSS {(high['rss'] - low['rss']) / span:.2f} MiB, heap {(high['heap'] - low['heap']) / span:.2f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
