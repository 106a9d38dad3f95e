"""What the redaction catches, per class of secret or personal data, and what it wrongly changes.

    .venv/bin/python benchmarks/redaction_coverage.py              # in-process and the collector (about 20 s)
    .venv/bin/python benchmarks/redaction_coverage.py --no-collector

The corpus is benchmarks/data/redaction_corpus.jsonl: crafted secrets and personal data, one per line with its
class and the substring that must not survive (``redact: true``), and look-alikes that must come out unchanged
(``redact: false``: order numbers, timestamps, trace ids, UUIDs, prices, versions, IP addresses, token counts,
prose with "password" or "key" in it). Three redactors read it:

* ``process``: glassbox's in-process redaction (glassbox.redaction) as it is in the work tree;
* ``before``: the redactor before detectors came from maintained libraries (``git show
  3d498f3:instrumentation/src/glassbox/redaction.py``), for comparison;
* ``collector``: the project's collector build with the ``redaction`` processor of collector/config.yaml alone
  (OTLP in, OTLP out to a decoding receiver on 127.0.0.1), each text sent as a log body and as an attribute.

A secret counts as caught when its substring is in neither; a look-alike is a false positive when the body
changes. Printed: per class, caught/total for each redactor, then the false-positive share.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "benchmarks" / "data" / "redaction_corpus.jsonl"


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def previous_redactor() -> Callable[[str], str] | None:
    """The redactor of commit 3d498f3's glassbox/redaction.py, loaded into a temporary module (None when absent)."""
    from benchmarks.redaction import head_module

    module = head_module("instrumentation/src/glassbox/redaction.py", "glassbox_previous_redaction")
    if module is None:
        return None
    # Its built-in patterns alone (its settings reader is gone from the package): what it caught by default.
    redact: Callable[[str], str] = module.Redactor(patterns=module.BUILTIN_PATTERNS).redact
    return redact


@contextmanager
def redaction_collector(receiver_endpoint: str) -> Iterator[str]:
    """The project's collector with only collector/config.yaml's redaction processor; yields its OTLP/HTTP URL."""
    from stack.binaries import find_binary
    from stack.processes import free_port, start, stop, wait_http

    binary = find_binary("collector")
    if binary is None:
        raise RuntimeError("no collector build: run collector/build.sh")
    redaction = yaml.safe_load((ROOT / "collector" / "config.yaml").read_text())["processors"]["redaction"]
    port, health = free_port(), free_port()
    config = {
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"redaction": redaction},
        "exporters": {"otlp_http": {"endpoint": receiver_endpoint, "compression": "none"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                "logs": {"receivers": ["otlp"], "processors": ["redaction"], "exporters": ["otlp_http"]},
                "traces": {"receivers": ["otlp"], "processors": ["redaction"], "exporters": ["otlp_http"]},
            },
        },
    }
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "redaction-only.yaml"
        path.write_text(yaml.safe_dump(config))
        log = Path(directory) / "collector.log"
        process = start([str(binary), f"--config={path}"], log, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            wait_http("collector", process, log, f"http://127.0.0.1:{health}/", timeout=30)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def through_collector(texts: list[str]) -> list[tuple[str, str]]:
    """(body, attribute) of each text after the collector's redaction processor."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    from tests.support.otlp_receiver import OTLPReceiver

    with OTLPReceiver() as receiver, redaction_collector(receiver.endpoint) as collector_url:
        provider = LoggerProvider()
        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(f"{collector_url}/v1/logs")))
        logger = provider.get_logger("redaction-coverage")
        for index, text in enumerate(texts):
            logger.emit(LogRecord(body=text, attributes={"corpus.index": index, "corpus.text": text}))
        provider.shutdown()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(receiver.logs()) < len(texts):
            time.sleep(0.2)
        out: dict[int, tuple[str, str]] = {}
        for record in receiver.logs():
            attributes = record["attributes"]
            out[int(attributes["corpus.index"])] = (str(record["body"]), str(attributes.get("corpus.text")))
    return [out.get(index, ("", "")) for index in range(len(texts))]


def score(rows: list[dict[str, Any]], outputs: list[tuple[str, str]]) -> tuple[dict[str, list[int]], list[int]]:
    """({class: [caught, total]}, [false positives, look-alikes])."""
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    false_positives = [0, 0]
    for row, (body, attribute) in zip(rows, outputs, strict=True):
        if row["redact"]:
            tally = per_class[row["class"]]
            tally[1] += 1
            tally[0] += row["secret"] not in body and row["secret"] not in attribute
        else:
            false_positives[1] += 1
            false_positives[0] += body != row["text"]
    return per_class, false_positives


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--no-collector", action="store_true", help="skip the collector's patterns")
    args = parser.parse_args(argv)
    from glassbox.redaction import build_redactor

    rows = load_corpus()
    texts = [row["text"] for row in rows]
    redactors: dict[str, list[tuple[str, str]]] = {}
    process = build_redactor()
    redactors["process"] = [(process.redact(t), process.redact(t)) for t in texts]
    before = previous_redactor()
    if before is not None:
        redactors["before"] = [(before(t), before(t)) for t in texts]
    if not args.no_collector:
        redactors["collector"] = through_collector(texts)
    scores = {name: score(rows, outputs) for name, outputs in redactors.items()}
    classes = sorted({row["class"] for row in rows if row["redact"]})
    names = list(redactors)
    to_redact = sum(row["redact"] for row in rows)
    print(f"{len(rows)} texts: {to_redact} to redact, {len(rows) - to_redact} look-alikes")
    print(f"{'class':24}" + "".join(f"{name:>14}" for name in names))
    for cls in classes:
        cells = [f"{scores[n][0][cls][0]}/{scores[n][0][cls][1]}" for n in names]
        print(f"{cls:24}" + "".join(f"{cell:>14}" for cell in cells))
    caught = {n: sum(v[0] for v in scores[n][0].values()) / sum(v[1] for v in scores[n][0].values()) for n in names}
    print(f"{'caught (share)':24}" + "".join(f"{caught[n]:>14.3f}" for n in names))
    print(f"{'false positives':24}" + "".join(f"{scores[n][1][0]}/{scores[n][1][1]:<11}" for n in names))
    for name in names:
        for row, (body, _) in zip(rows, redactors[name], strict=True):
            if not row["redact"] and body != row["text"]:
                print(f"  {name} changed a {row['class']} look-alike: {row['text'][:70]!r} -> {body[:70]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
