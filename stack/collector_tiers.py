"""The collector tiers for many hosts, generated from the single-host pipeline (collector/config.yaml).

    python -m stack.collector_tiers    # writes collector/agent.yaml, agent-dns.yaml and gateway.yaml

One source for both: the intake (receivers, memory_limiter, the environment normalisation and redaction) and the
backend exporters are copied from config.yaml, so a pattern added there reaches every tier;
``tests/stack/test_collector_tiers.py`` fails when the generated files are out of date.

* **agent** (one per host or pod; apps send to it as to the single-host collector): OTLP in, memory_limiter,
  normalisation, redaction, then the loadbalancing exporter. Traces and logs are routed by trace id, so every
  span of a trace reaches the same gateway; metrics by service. The gateways are ``GLASSBOX_GATEWAYS``, a YAML
  list of ``host:port`` (the gateways' OTLP/gRPC ports). ``agent-dns.yaml`` is the same agent finding its
  gateways by DNS instead (docker compose, a Kubernetes headless service): every address that
  ``GLASSBOX_GATEWAY_HOSTNAME`` resolves to, re-resolved every 30 s, on the OTLP/gRPC port 4317.
* **gateway** (N replicas): span metrics from every span *before* sampling (RED and GenAI metrics stay exact),
  then tail sampling: a trace is kept when any span has an error, when it lasts over ``GLASSBOX_TAIL_LATENCY_MS``,
  when a model call in it cost at least ``GLASSBOX_TAIL_COST_USD``, when it carries an audit event or a guard
  refusal, when a Glassbox app marked it ``glassbox.trace.kept`` (the share ``GLASSBOX_TRACE_KEEP_PERCENT`` that
  its metric exemplars come from), and otherwise at ``GLASSBOX_TAIL_SAMPLE_PERCENT`` (0: for traces no Glassbox
  app took part in). Logs (audit events in their own stream) and
  metrics pass through unsampled to the same backends as the single-host pipeline.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from glassbox import conventions as c

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "collector" / "config.yaml"
AGENT = ROOT / "collector" / "agent.yaml"
AGENT_DNS = ROOT / "collector" / "agent-dns.yaml"
GATEWAY = ROOT / "collector" / "gateway.yaml"
INTAKE = ("memory_limiter", "transform/normalise", "redaction")
HEADER = (
    "# Generated from collector/config.yaml by `python -m stack.collector_tiers`: edit that file or the generator,\n"
    "# not this one (tests/stack/test_collector_tiers.py checks it is current). See docs/scale.md.\n"
)

# Span attributes the span metrics carry as labels, besides service, span name, kind and status.
SPAN_METRIC_DIMENSIONS = (c.GEN_AI_OPERATION_NAME, c.GEN_AI_PROVIDER_NAME, c.GEN_AI_REQUEST_MODEL)


def _base() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


STATIC_RESOLVER = {"static": {"hostnames": "${env:GLASSBOX_GATEWAYS:-[127.0.0.1:4327]}"}}
DNS_RESOLVER = {"dns": {"hostname": "${env:GLASSBOX_GATEWAY_HOSTNAME:-gateway}", "port": "4317", "interval": "30s"}}


def agent(base: dict[str, Any] | None = None, resolver: dict[str, Any] | None = None) -> dict[str, Any]:
    base = copy.deepcopy(base or _base())
    queue = base["exporters"]["otlp_http/tempo"]["sending_queue"]
    retry = base["exporters"]["otlp_http/tempo"]["retry_on_failure"]

    def balancer(routing_key: str) -> dict[str, Any]:
        return {
            "routing_key": routing_key,
            "protocol": {"otlp": {"tls": {"insecure": True}, "timeout": "10s"}},
            "resolver": copy.deepcopy(resolver or STATIC_RESOLVER),
            "sending_queue": queue,
            "retry_on_failure": retry,
        }

    intake = list(INTAKE)
    return {
        "extensions": base["extensions"],
        "receivers": base["receivers"],
        "processors": {name: base["processors"][name] for name in INTAKE},
        "exporters": {"loadbalancing": balancer("traceID"), "loadbalancing/metrics": balancer("service")},
        "service": {
            "extensions": base["service"]["extensions"],
            "telemetry": base["service"]["telemetry"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": intake, "exporters": ["loadbalancing"]},
                "metrics": {"receivers": ["otlp"], "processors": intake, "exporters": ["loadbalancing/metrics"]},
                "logs": {"receivers": ["otlp"], "processors": intake, "exporters": ["loadbalancing"]},
            },
        },
    }


def _tail_sampling() -> dict[str, Any]:
    cost = f'attributes["{c.COST_USD}"]'
    events = [f'name == "{c.AUDIT_EVENT_NAME}"', f'name == "{c.AI_CALL_REFUSED_EVENT}"']
    return {
        # Spans of a trace are held this long after its first span arrives, then the trace is decided.
        "decision_wait": "${env:GLASSBOX_TAIL_DECISION_WAIT:-10s}",
        # Traces held at once; beyond it the oldest are decided early. Measured about 11 MiB of RSS per 1,000
        # held traces of 4 spans (benchmarks/collector_tiers.py), so 20,000 stay well inside the 512 MiB
        # memory_limiter limit and still cover 2,000 new traces/s per gateway at the 10 s decision wait.
        "num_traces": 20000,
        "expected_new_traces_per_sec": 1000,
        "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "slow", "type": "latency", "latency": {"threshold_ms": "${env:GLASSBOX_TAIL_LATENCY_MS:-2000}"}},
            {
                "name": "costly",
                "type": "ottl_condition",
                "ottl_condition": {
                    "error_mode": "ignore",
                    "span": [f"{cost} != nil and {cost} >= ${{env:GLASSBOX_TAIL_COST_USD:-0.05}}"],
                },
            },
            {
                "name": "audited-or-refused",
                "type": "ottl_condition",
                "ottl_condition": {"error_mode": "ignore", "spanevent": events},
            },
            # The share of the rest that Glassbox apps mark (GLASSBOX_TRACE_KEEP_PERCENT, decided from the trace id
            # in every service alike): the traces their metric exemplars name.
            {
                "name": "kept-by-the-apps",
                "type": "boolean_attribute",
                "boolean_attribute": {"key": c.TRACE_KEPT, "value": True},
            },
            # A share of the rest decided here, for traces no Glassbox app took part in (0 by default: the apps'
            # mark is the share).
            {
                "name": "share-of-the-rest",
                "type": "probabilistic",
                "probabilistic": {"sampling_percentage": "${env:GLASSBOX_TAIL_SAMPLE_PERCENT:-0}"},
            },
        ],
    }


def gateway(base: dict[str, Any] | None = None) -> dict[str, Any]:
    base = copy.deepcopy(base or _base())
    pipelines = base["service"]["pipelines"]
    processors = {
        "memory_limiter": base["processors"]["memory_limiter"],
        "tail_sampling": _tail_sampling(),
        **{name: base["processors"][name] for name in ("filter/drop_audit", "filter/keep_only_audit")},
        "resource/audit_stream": base["processors"]["resource/audit_stream"],
    }
    spanmetrics = {
        "dimensions": [{"name": name} for name in SPAN_METRIC_DIMENSIONS],
        "metrics_flush_interval": "15s",
        "histogram": {"unit": "s"},
    }
    return {
        "extensions": base["extensions"],
        "receivers": base["receivers"],
        "processors": processors,
        "exporters": base["exporters"],
        "connectors": {**base["connectors"], "spanmetrics": spanmetrics, "forward/traces": {}},
        "service": {
            "extensions": base["service"]["extensions"],
            "telemetry": base["service"]["telemetry"],
            "pipelines": {
                # Every span is measured, then sampled.
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": ["spanmetrics", "forward/traces"],
                },
                "traces/sampled": {
                    "receivers": ["forward/traces"],
                    "processors": ["tail_sampling"],
                    "exporters": pipelines["traces"]["exporters"],
                },
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": pipelines["metrics"]["exporters"],
                },
                "metrics/spans": {"receivers": ["spanmetrics"], "exporters": pipelines["metrics"]["exporters"]},
                "logs": {"receivers": ["otlp"], "processors": ["memory_limiter"], "exporters": ["forward/logs"]},
                "logs/app": pipelines["logs/app"],
                "logs/audit": pipelines["logs/audit"],
            },
        },
    }


def render(config: dict[str, Any]) -> str:
    return HEADER + str(yaml.safe_dump(config, sort_keys=False, width=120))


def main(argv: list[str] | None = None) -> int:
    base = _base()
    for path, config in ((AGENT, agent(base)), (AGENT_DNS, agent(base, DNS_RESOLVER)), (GATEWAY, gateway(base))):
        path.write_text(render(config))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
