"""The PostgreSQL schema of the shared state, versioned: glassbox creates and migrates it itself.

``glassbox state migrate`` applies what is missing (each process also does on first use); the version applied
is in ``glassbox.schema_version``. A database whose schema is newer than this glassbox knows is refused with a
clear error rather than used. Concurrent migrations (many replicas starting at once) are serialised by an
advisory lock.

Roles (created when the migrating role may create roles; grant them to your login roles):

* ``glassbox_writer``: what an app needs. Spend, budgets, kill switch and request usage read and written; the
  audit tables only read and appended to (INSERT, no UPDATE, DELETE or TRUNCATE).
* ``glassbox_reader``: reads the audit trail and the rest (``glassbox audit verify|export``, dashboards).
* ``glassbox_tenant_auditor``: reads the audit events of the tenants ``glassbox.audit_readers`` lists for the
  login role, nothing else (row-level security).

A trigger refuses UPDATE, DELETE and TRUNCATE on the audit tables for everyone, the owner included.
"""

from __future__ import annotations

from typing import Final

SCHEMA: Final = "glassbox"
ROLE_WRITER: Final = "glassbox_writer"
ROLE_READER: Final = "glassbox_reader"
ROLE_TENANT_AUDITOR: Final = "glassbox_tenant_auditor"
ROLES: Final = (ROLE_WRITER, ROLE_READER, ROLE_TENANT_AUDITOR)
# pg_advisory_lock keys: one for migrations, one that serialises the audit chain's appends.
MIGRATION_LOCK: Final = 0x676C617373000001
AUDIT_LOCK: Final = 0x676C617373000002
# The channel LISTEN/NOTIFY tells every process on; the payload names what changed.
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

# Roles exist once per cluster: created only when missing, and only by a role allowed to create roles.
_ROLES = """
DO $$
DECLARE
    name text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
        RETURN;
    END IF;
    FOREACH name IN ARRAY ARRAY['glassbox_writer', 'glassbox_reader', 'glassbox_tenant_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        END IF;
    END LOOP;
END $$;
"""

# Grants and policies for the roles that exist; idempotent, applied after every migration.
_GRANTS = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_writer') THEN
        GRANT USAGE ON SCHEMA glassbox TO glassbox_writer;
        GRANT SELECT ON glassbox.schema_version TO glassbox_writer;
        GRANT SELECT, INSERT, UPDATE, DELETE ON glassbox.spend, glassbox.reservations, glassbox.budgets,
            glassbox.budget_thresholds, glassbox.kill_switch, glassbox.request_usage TO glassbox_writer;
        GRANT USAGE ON SEQUENCE glassbox.reservations_id_seq TO glassbox_writer;
        GRANT SELECT, INSERT ON glassbox.audit_log, glassbox.audit_checkpoints TO glassbox_writer;
        GRANT EXECUTE ON FUNCTION glassbox.audit_append(bigint, text, text, text, text[], text[], text[], text[],
            text[], text[], text[], text[], text[]) TO glassbox_writer;
        DROP POLICY IF EXISTS writer_reads ON glassbox.audit_log;
        DROP POLICY IF EXISTS writer_appends ON glassbox.audit_log;
        CREATE POLICY writer_reads ON glassbox.audit_log FOR SELECT TO glassbox_writer USING (true);
        CREATE POLICY writer_appends ON glassbox.audit_log FOR INSERT TO glassbox_writer WITH CHECK (true);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_reader') THEN
        GRANT USAGE ON SCHEMA glassbox TO glassbox_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA glassbox TO glassbox_reader;
        DROP POLICY IF EXISTS reader_reads ON glassbox.audit_log;
        CREATE POLICY reader_reads ON glassbox.audit_log FOR SELECT TO glassbox_reader USING (true);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_tenant_auditor') THEN
        GRANT USAGE ON SCHEMA glassbox TO glassbox_tenant_auditor;
        GRANT SELECT ON glassbox.audit_log, glassbox.audit_checkpoints, glassbox.audit_readers,
            glassbox.schema_version TO glassbox_tenant_auditor;
        DROP POLICY IF EXISTS tenant_auditor_reads ON glassbox.audit_log;
        CREATE POLICY tenant_auditor_reads ON glassbox.audit_log FOR SELECT TO glassbox_tenant_auditor
            USING (tenant IN (SELECT r.tenant FROM glassbox.audit_readers r WHERE r.role_name = current_user));
    END IF;
END $$;
"""

# (version, statements): append a new entry for each change; never edit one that has shipped.
MIGRATIONS: Final[tuple[tuple[int, str], ...]] = ((1, _TABLES),)
# Run by `glassbox state migrate` every time (so roles made later get their grants) and after each migration.
ROLE_SETUP: Final = (_ROLES, _GRANTS)
LATEST: Final = MIGRATIONS[-1][0]
