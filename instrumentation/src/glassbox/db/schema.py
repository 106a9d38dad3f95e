"""The PostgreSQL schema of the shared state, versioned: ``glassbox state migrate`` creates and migrates it.

``glassbox state migrate --admin-url ...`` applies what is missing, as the role that owns the schema; apps never
migrate (their role cannot): an app that finds an older schema says so and follows GLASSBOX_STATE_FAILURE until an
operator migrates. The version applied is in ``glassbox.schema_version``. A database whose schema is newer than
this glassbox knows is refused with a clear error rather than used. Concurrent migrations are serialised by an
advisory lock. Versions 2 and later are SQL files in ``glassbox/db/sql/``.

Roles (group roles, created when the migrating role may create roles; grant them to your login roles):

* ``glassbox_writer``: what an app needs, and nothing more. It reads the state and the audit trail, and changes
  them only by calling the SECURITY DEFINER functions of version 2 (appending audit events, reserving and booking
  spend, counting a request's calls, turning the kill switch on or off and changing a budget, each change chained
  into the audit trail in its own transaction). It has no INSERT, UPDATE, DELETE or TRUNCATE on any table, owns
  nothing, and cannot write the success record of a control change without making the change.
* ``glassbox_reader``: reads everything (``glassbox audit verify|export``, ``glassbox story``, dashboards) and may
  append only the record of its own reading.
* ``glassbox_tenant_auditor``: reads the audit events of the tenants ``glassbox.audit_readers`` lists for the
  login role (row-level security), nothing else.

Triggers refuse UPDATE, DELETE and TRUNCATE on the audit tables and any record that is not the next one after
the head, whoever writes. The table owner can still disable triggers: that role is the operator's, never an
app's, and with pgaudit loaded (sql/pgaudit.sql) every such statement and every read of the audit table is
recorded by PostgreSQL itself (docs/security.md).
"""

from __future__ import annotations

from importlib import resources
from typing import Final

SCHEMA: Final = "glassbox"
ROLE_WRITER: Final = "glassbox_writer"
ROLE_READER: Final = "glassbox_reader"
ROLE_TENANT_AUDITOR: Final = "glassbox_tenant_auditor"
ROLES: Final = (ROLE_WRITER, ROLE_READER, ROLE_TENANT_AUDITOR)
# pg_advisory_lock keys: one for migrations; the other is what version 1's audit_append locked (version 2 locks
# glassbox.audit_head's row instead, and keeps the argument for its callers).
MIGRATION_LOCK: Final = 0x676C617373000001
AUDIT_LOCK: Final = 0x676C617373000002
# The channel LISTEN/NOTIFY tells every process on; the payload names what changed (the control-change functions
# of sql/v2_least_privilege.sql notify with the same names: a test checks).
CHANNEL: Final = "glassbox_state"
CHANGED_KILL_SWITCH: Final = "kill_switch"
CHANGED_BUDGETS: Final = "budgets"

_TABLES = """
CREATE TABLE glassbox.spend (
    tenant text NOT NULL,
    day date NOT NULL,
    spent_usd double precision NOT NULL DEFAULT 0,
    reserved_usd double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, day)
);
CREATE TABLE glassbox.reservations (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL,
    day date NOT NULL,
    usd double precision NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX reservations_expiry ON glassbox.reservations (expires_at);
CREATE TABLE glassbox.budgets (
    tenant text PRIMARY KEY,
    day_usd double precision,
    month_usd double precision,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE glassbox.budget_thresholds (
    tenant text NOT NULL,
    period text NOT NULL,
    period_key text NOT NULL,
    ratio double precision NOT NULL,
    limit_usd double precision NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, period, period_key, ratio, limit_usd)
);
CREATE TABLE glassbox.kill_switch (
    tenant text PRIMARY KEY,
    reason text,
    actor text,
    since timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE glassbox.request_usage (
    request_id text PRIMARY KEY,
    calls integer NOT NULL DEFAULT 0,
    usd double precision NOT NULL DEFAULT 0,
    tokens bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_usage_age ON glassbox.request_usage (updated_at);
CREATE TABLE glassbox.audit_log (
    seq bigint PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    time timestamptz NOT NULL,
    tenant text,
    action text NOT NULL,
    actor_id text,
    request_id text,
    trace_id text,
    record text NOT NULL,
    hash text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_time ON glassbox.audit_log (time);
CREATE INDEX audit_log_tenant ON glassbox.audit_log (tenant, time);
CREATE INDEX audit_log_request ON glassbox.audit_log (request_id);
CREATE INDEX audit_log_trace ON glassbox.audit_log (trace_id);
CREATE TABLE glassbox.audit_checkpoints (
    seq bigint PRIMARY KEY,
    hash text NOT NULL,
    time double precision NOT NULL,
    key_id text NOT NULL,
    signature text NOT NULL
);
CREATE TABLE glassbox.audit_readers (
    role_name name NOT NULL,
    tenant text NOT NULL,
    PRIMARY KEY (role_name, tenant)
);
-- Appends a batch to the audit chain inside the database, so that the chain's lock is held for the server's own
-- work only (no client round trip while it is held). The client sends each event as two templates of its
-- canonical JSON, made with marks where the sequence number, the previous hash and the hash go: hashing[i] is
-- the record without "hash" (what the hash is the SHA-256 of), stored[i] the whole record. The transaction
-- commits without waiting for the disk: the caller waits for the flush afterwards, outside the lock. An event
-- whose id is in the chain already is not written again; its record is returned.
CREATE FUNCTION glassbox.audit_append(lock_key bigint, seq_mark text, prev_mark text, hash_mark text,
    ids text[], times text[], tenants text[], actions text[], actors text[], requests text[], traces text[],
    hashing text[], stored text[])
RETURNS TABLE (out_seq bigint, out_hash text, out_record text, last_checkpoint double precision)
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    checkpointed double precision;
    found_record text;
    this_hash text;
    this_record text;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM glassbox.audit_log a ORDER BY a.seq DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, repeat('0', 64));
    SELECT c.time INTO checkpointed FROM glassbox.audit_checkpoints c ORDER BY c.seq DESC LIMIT 1;
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
        SELECT a.record INTO found_record FROM glassbox.audit_log a WHERE a.event_id = ids[i];
        IF found_record IS NOT NULL THEN
            out_seq := NULL; out_hash := NULL; out_record := found_record; last_checkpoint := checkpointed;
            RETURN NEXT;
            CONTINUE;
        END IF;
        head_seq := head_seq + 1;
        this_hash := encode(sha256(convert_to(replace(replace(hashing[i], '"' || seq_mark || '"', head_seq::text),
                                                      prev_mark, head_hash), 'UTF8')), 'hex');
        this_record := replace(replace(replace(stored[i], '"' || seq_mark || '"', head_seq::text),
                                       prev_mark, head_hash), hash_mark, this_hash);
        INSERT INTO glassbox.audit_log (seq, event_id, time, tenant, action, actor_id, request_id, trace_id,
                                        record, hash)
            VALUES (head_seq, ids[i], times[i]::timestamptz, tenants[i], actions[i], actors[i], requests[i],
                    traces[i], this_record, this_hash);
        out_seq := head_seq; out_hash := this_hash; out_record := this_record; last_checkpoint := checkpointed;
        RETURN NEXT;
        head_hash := this_hash;
    END LOOP;
END $$;
CREATE FUNCTION glassbox.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'glassbox: % on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON glassbox.audit_log
    FOR EACH ROW EXECUTE FUNCTION glassbox.refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON glassbox.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION glassbox.refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON glassbox.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION glassbox.refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON glassbox.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION glassbox.refuse_change();
ALTER TABLE glassbox.audit_log ENABLE ROW LEVEL SECURITY;
"""


def _sql(name: str) -> str:
    return resources.files("glassbox.db").joinpath("sql", name).read_text(encoding="utf-8")


# (version, statements): append a new entry for each change; never edit one that has shipped.
MIGRATIONS: Final[tuple[tuple[int, str], ...]] = ((1, _TABLES), (2, _sql("v2_least_privilege.sql")))
# Run by `glassbox state migrate` every time (so roles made later get their grants) and after each migration.
ROLE_SETUP: Final = (_sql("roles.sql"), _sql("grants.sql"), _sql("pgaudit.sql"))
LATEST: Final = MIGRATIONS[-1][0]
