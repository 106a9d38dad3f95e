"""`glassbox audit verify --against-loki` on a Loki that holds more than one chain: another host's, another
fleet's, an earlier run's on the same host (same key, a new log). Only the chain being verified is compared; what
belongs to the others is never reported as removed from it, and what was really cut from it still is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glassbox.audit import loki
from glassbox.audit.chain import (
    FILE_LOG,
    AuditLog,
    Verification,
    chain_id,
    event_digest,
    key_id,
    load_public_key,
    public_key_path,
    verify,
)
from glassbox.audit.witness import Witnessed
from tests.conftest import Postgres, instrumented_env
from tests.support.binaries import requires

SENT = "2026-11-22T10:00:00+00:00"


def host(directory: Path, key: Path) -> AuditLog:
    return AuditLog(directory / "audit.jsonl", directory / "audit.checkpoints", key, checkpoint_every=2)


def written(log: AuditLog, count: int) -> list[dict[str, Any]]:
    return [log.append({"id": f"{log.path.parent.name}-{n}", "action": "config.change", "time": SENT,
                        "after": {"n": n}}) for n in range(count)]  # fmt: skip


def copies(records: list[dict[str, Any]], chain: str | None) -> list[loki.Copy]:
    """The copies Loki holds of ``records``, each with its sequence number; ``chain`` None as a writer that did not
    name its chain sent them."""
    return [loki.Copy(str(r["id"]), event_digest(r), int(r["seq"]), SENT, FILE_LOG, chain) for r in records]


def witnessed(log: AuditLog, chain: str | None) -> list[Witnessed]:
    signed = [json.loads(line) for line in log.checkpoints.read_text().splitlines()]
    return [Witnessed(checkpoint, FILE_LOG, chain, SENT) for checkpoint in signed]


def compared(log: AuditLog, records: list[dict[str, Any]], stream: loki.Stream) -> tuple[Verification, loki.Comparison]:
    key = load_public_key(public_key_path(log.key_path))
    result = verify(log.path, log.checkpoints, key)
    first = next(r for r in records if r["seq"] == 1)
    keys: Mapping[str, Any] = {key_id(key): key}
    outcome = loki.compare(result, records, stream, 0, keys=keys, log=FILE_LOG, chain=chain_id(first))
    return result, outcome


def test_an_earlier_run_s_events_and_checkpoints_in_loki_are_not_this_chain_s(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "audit.key"  # the host keeps its key; its log was started again
    earlier, current = host(tmp_path / "earlier", key), host(tmp_path / "current", key)
    before, now = written(earlier, 5), written(current, 3)
    stream = loki.Stream(
        # the earlier run's copies and checkpoints name no chain (sent before copies named one) ...
        copies(before, None) + copies(now, chain_id(now[0])),
        witnessed(earlier, None) + witnessed(current, chain_id(now[0])),
    )
    result, outcome = compared(current, now, stream)
    assert result.ok, result.problems
    assert outcome.compared == 3 and outcome.checkpoints_compared == 2  # checkpoints at 1 and 2
    assert outcome.unattributed == 5 + 3  # its 5 events, and its checkpoints at 1, 2 and 4 (other records)
    # ... and another host's name theirs: not this chain's either, and not counted as unplaced
    other = host(tmp_path / "other", tmp_path / "other-key")
    theirs = written(other, 4)
    stream.copies += copies(theirs, chain_id(theirs[0]))
    result, outcome = compared(current, now, stream)
    assert result.ok and outcome.unattributed == 8, result.problems


def test_a_cut_tail_is_still_caught_among_other_chains(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "audit.key"
    earlier, current = host(tmp_path / "earlier", key), host(tmp_path / "current", key)
    before, now = written(earlier, 5), written(current, 5)
    stream = loki.Stream(
        copies(before, None) + copies(now, chain_id(now[0])),
        witnessed(earlier, None) + witnessed(current, chain_id(now[0])),
    )
    kept = [line for line in current.path.read_bytes().splitlines(keepends=True)][:3]
    current.path.write_bytes(b"".join(kept))  # records 4 and 5 cut, with the checkpoints after 3
    lines = current.checkpoints.read_text().splitlines()
    current.checkpoints.write_text("".join(line + "\n" for line in lines if json.loads(line)["seq"] <= 3))
    result, _ = compared(current, now[:3], stream)
    assert not result.ok
    text = "\n".join(result.problems)
    assert f"event {now[3]['id']} (sequence 4" in text and "(removed)" in text, text
    assert "tail cut" in text, text
    assert before[0]["id"] not in text  # the earlier run's events are not called removed


def fleet_app(url: str, state: Path, otlp: str, count: int) -> None:
    """An app of one fleet writing ``count`` audit events into its database, copies through the collector."""
    env = instrumented_env(
        GLASSBOX_STATE_URL=url,
        GLASSBOX_AUDIT_KEY_FILE=str(state / "audit.key"),
        GLASSBOX_AUDIT_SPOOL_DIR=str(state / "spool"),
        GLASSBOX_AUDIT_CHECKPOINT_EVERY="2",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp,
        OTEL_SERVICE_NAME=state.name,
    )
    script = f"import glassbox\nfor n in range({count}):\n    glassbox.audit('config.change', after={{'n': n}})\n"
    app = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "-c", script]
    subprocess.run(app, env=env, check=True, timeout=120, cwd=state.parent)


@requires("loki")
def test_a_fleet_verified_against_a_real_loki_that_holds_another_fleet_s_chain(
    tmp_path: Path, postgres: Postgres
) -> None:
    """Two fleets (two databases: another fleet, or this one before its database was made again) send their
    copies through the real collector into one real Loki; verifying one against Loki compares its chain only."""
    from glassbox.stack_addresses import Endpoints
    from tests.support.stack_fixtures import new_stack, otlp_http, wait_for

    ours, theirs = postgres.database(), postgres.database()
    stack = new_stack(tmp_path / "stack")
    try:
        stack.up(["prometheus", "loki", "collector"])
        (tmp_path / "theirs").mkdir()
        (tmp_path / "ours").mkdir()
        fleet_app(theirs, tmp_path / "theirs", otlp_http(stack), 5)
        fleet_app(ours, tmp_path / "ours", otlp_http(stack), 3)
        url = Endpoints.from_environ(stack.env).loki

        def everything_in_loki() -> bool:
            stream = loki.read_stream(url, time.time() - 3600, time.time() + 60)
            return len(stream.copies) >= 8 and len(stream.checkpoints) >= 4

        wait_for(everything_in_loki, timeout=90, what="both fleets' copies and checkpoints in Loki")
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
        environment.update(
            OTEL_SDK_DISABLED="true",
            GLASSBOX_STATE_URL=ours,
            GLASSBOX_AUDIT_PUBLIC_KEY=str(tmp_path / "ours" / "audit.key.pub"),
        )
        verify_command = [sys.executable, "-m", "glassbox.cli", "audit", "verify", "--against-loki", "--loki", url,
                          "--grace", "0"]  # fmt: skip
        verified = subprocess.run(verify_command, env=environment, capture_output=True, text=True, timeout=120)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "removed" not in verified.stdout and "LOKI  3 records compared" in verified.stdout, verified.stdout
    finally:
        stack.down()
