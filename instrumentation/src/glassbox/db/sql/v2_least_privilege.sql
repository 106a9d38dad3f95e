-- Version 2: the app's role owns nothing and changes glassbox's tables only through the functions below.
--
-- Every function an app calls is SECURITY DEFINER with a fixed search_path, so a writer needs EXECUTE on them and
-- no INSERT, UPDATE or DELETE on any table. The functions refuse what an honest app never sends (negative
-- amounts, a sequence number out of turn, a control change without its audit event), and every change of the kill
-- switch or of a budget is chained into the audit trail in the same transaction as the change itself.

-- ---------------------------------------------------------------------------------------------------- the chain
-- The head of the chain, kept apart from the records: appends read and lock it here, so they never read the audit
-- table itself (reads of that table are what pgaudit records).
CREATE TABLE glassbox.audit_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO glassbox.audit_head (seq, hash)
    SELECT coalesce(max(a.seq), 0),
           coalesce((SELECT b.hash FROM glassbox.audit_log b ORDER BY b.seq DESC LIMIT 1), repeat('0', 64))
    FROM glassbox.audit_log a;

-- No gaps, no jumps: a record enters the table only as the next one after the head, whoever inserts it.
CREATE FUNCTION glassbox.audit_continuity() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_seq bigint;
BEGIN
    SELECT h.seq INTO head_seq FROM glassbox.audit_head h FOR UPDATE;
    IF NEW.seq IS DISTINCT FROM head_seq + 1 THEN
        RAISE EXCEPTION 'glassbox: audit record % refused: the next sequence number is %', NEW.seq, head_seq + 1
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    UPDATE glassbox.audit_head SET seq = NEW.seq, hash = NEW.hash;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_continuity BEFORE INSERT ON glassbox.audit_log
    FOR EACH ROW EXECUTE FUNCTION glassbox.audit_continuity();

ALTER TABLE glassbox.audit_checkpoints ADD COLUMN every integer;
ALTER TABLE glassbox.reservations ADD COLUMN total boolean NOT NULL DEFAULT false;

-- An event's canonical JSON parsed for the checks below. PostgreSQL's JSON types cannot hold the character U+0000,
-- which an event's text may: each escape of it is read as U+FFFD here (same length, still valid JSON; the record
-- itself is stored as sent).
CREATE FUNCTION glassbox.parsed(stored text) RETURNS json
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace(stored, E'\\u0000', E'\\ufffd')::json
$$;

-- Chains a batch of events (see version 1's audit_append for the templates). Internal: only the functions below
-- call it. ``allowed`` limits the actions the batch may hold (NULL: any but a control change's success, which only
-- the control functions write).
CREATE FUNCTION glassbox.chain_events(seq_mark text, prev_mark text, hash_mark text, ids text[], times text[],
    tenants text[], actions text[], actors text[], requests text[], traces text[], hashing text[], stored text[],
    allowed text[])
RETURNS TABLE (out_seq bigint, out_hash text, out_record text, last_checkpoint double precision,
               last_checkpoint_seq bigint, last_checkpoint_every integer)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    checkpointed double precision;
    checkpointed_seq bigint;
    checkpointed_every integer;
    found_record text;
    this_hash text;
    this_record text;
    event json;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT h.seq, h.hash INTO head_seq, head_hash FROM glassbox.audit_head h FOR UPDATE;
    SELECT c.time, c.seq, c.every INTO checkpointed, checkpointed_seq, checkpointed_every
        FROM glassbox.audit_checkpoints c ORDER BY c.seq DESC LIMIT 1;
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
        event := glassbox.parsed(stored[i]);
        IF event->>'id' IS DISTINCT FROM ids[i] OR event->>'action' IS DISTINCT FROM actions[i]
           OR event->>'tenant' IS DISTINCT FROM tenants[i] OR event->'actor'->>'id' IS DISTINCT FROM actors[i]
           OR event->>'request_id' IS DISTINCT FROM requests[i] OR event->>'trace_id' IS DISTINCT FROM traces[i]
           OR event->>'time' IS DISTINCT FROM times[i] THEN
            RAISE EXCEPTION 'glassbox: audit event % refused: its columns do not match its content', ids[i]
                USING ERRCODE = 'data_exception';
        END IF;
        IF allowed IS NOT NULL AND NOT (actions[i] = ANY (allowed)) THEN
            RAISE EXCEPTION 'glassbox: audit event % refused: action % is not allowed here', ids[i], actions[i]
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF allowed IS NULL AND actions[i] IN ('kill_switch.on', 'kill_switch.off', 'budget.change')
           AND event->'outcome'->>'status' = 'success' THEN
            RAISE EXCEPTION 'glassbox: audit event % refused: a % success is written by the change itself',
                ids[i], actions[i] USING ERRCODE = 'insufficient_privilege';
        END IF;
        found_record := NULL;
        SELECT a.record INTO found_record FROM glassbox.audit_log a WHERE a.event_id = ids[i];
        IF found_record IS NOT NULL THEN
            out_seq := NULL; out_hash := NULL; out_record := found_record; last_checkpoint := checkpointed;
            last_checkpoint_seq := checkpointed_seq; last_checkpoint_every := checkpointed_every;
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
        last_checkpoint_seq := checkpointed_seq; last_checkpoint_every := checkpointed_every;
        RETURN NEXT;
        head_hash := this_hash;
    END LOOP;
END $$;

-- What an app appends (its own audit events). ``lock_key`` is kept for the callers of version 1 and ignored: the
-- head's row lock serialises appends.
DROP FUNCTION glassbox.audit_append(bigint, text, text, text, text[], text[], text[], text[], text[], text[], text[],
    text[], text[]);
CREATE FUNCTION glassbox.audit_append(lock_key bigint, seq_mark text, prev_mark text, hash_mark text,
    ids text[], times text[], tenants text[], actions text[], actors text[], requests text[], traces text[],
    hashing text[], stored text[])
RETURNS TABLE (out_seq bigint, out_hash text, out_record text, last_checkpoint double precision,
               last_checkpoint_seq bigint, last_checkpoint_every integer)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM glassbox.chain_events(seq_mark, prev_mark, hash_mark, ids, times, tenants, actions, actors,
                                        requests, traces, hashing, stored, NULL)
$$;

-- What a reader of the trail appends: only the record of its own reading.
CREATE FUNCTION glassbox.audit_append_reads(seq_mark text, prev_mark text, hash_mark text,
    ids text[], times text[], tenants text[], actions text[], actors text[], requests text[], traces text[],
    hashing text[], stored text[])
RETURNS TABLE (out_seq bigint, out_hash text, out_record text, last_checkpoint double precision,
               last_checkpoint_seq bigint, last_checkpoint_every integer)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM glassbox.chain_events(seq_mark, prev_mark, hash_mark, ids, times, tenants, actions, actors,
                                        requests, traces, hashing, stored,
                                        ARRAY['audit.verify', 'audit.export', 'audit.read'])
$$;

-- A signed checkpoint of a record that is in the chain with that hash (the signature is checked by verifiers).
CREATE FUNCTION glassbox.audit_checkpoint(p_seq bigint, p_hash text, p_time double precision, p_every integer,
    p_key_id text, p_signature text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_hash text;
BEGIN
    SELECT a.hash INTO found_hash FROM glassbox.audit_log a WHERE a.seq = p_seq;
    IF found_hash IS DISTINCT FROM p_hash THEN
        RAISE EXCEPTION 'glassbox: checkpoint % refused: the chain has no record % with that hash', p_seq, p_seq
            USING ERRCODE = 'data_exception';
    END IF;
    PERFORM set_config('synchronous_commit', 'on', true);
    INSERT INTO glassbox.audit_checkpoints (seq, hash, time, key_id, signature, every)
        VALUES (p_seq, p_hash, p_time, p_key_id, p_signature, p_every) ON CONFLICT (seq) DO NOTHING;
    RETURN FOUND;
END $$;

-- ---------------------------------------------------------------------------------------------------- controls
-- Checks that a control change's audit event says what the change does (its action, its resource, a success),
-- then chains it.
CREATE FUNCTION glassbox.chain_control_event(expected_action text, resource_type text, resource_id text,
    seq_mark text, prev_mark text, hash_mark text, event_id text, event_time text, event_tenant text,
    event_action text, event_actor text, event_request text, event_trace text, hashing text, stored text)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    event json := glassbox.parsed(stored);
    chained text;
BEGIN
    IF event->>'action' IS DISTINCT FROM expected_action
       OR event->'resource'->>'type' IS DISTINCT FROM resource_type
       OR event->'resource'->>'id' IS DISTINCT FROM resource_id
       OR event->'outcome'->>'status' IS DISTINCT FROM 'success' THEN
        RAISE EXCEPTION 'glassbox: the audit event does not describe the change (% of % %)', expected_action,
            resource_type, resource_id USING ERRCODE = 'data_exception';
    END IF;
    SELECT out_record INTO chained FROM glassbox.chain_events(seq_mark, prev_mark, hash_mark, ARRAY[event_id],
        ARRAY[event_time], ARRAY[event_tenant], ARRAY[event_action], ARRAY[event_actor], ARRAY[event_request],
        ARRAY[event_trace], ARRAY[hashing], ARRAY[stored], ARRAY[event_action]);
    RETURN chained;
END $$;

-- Turns the kill switch of ``p_tenant`` ('*': every tenant) on or off, tells every process, and chains the
-- change's audit event (action kill_switch.on|off, resource {"type": "kill_switch", "id": p_tenant}) with it.
-- Returns the chained record.
CREATE FUNCTION glassbox.kill_switch_change(p_on boolean, p_tenant text, p_reason text, p_actor text,
    seq_mark text, prev_mark text, hash_mark text, event_id text, event_time text, event_tenant text,
    event_action text, event_actor text, event_request text, event_trace text, hashing text, stored text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chained text;
BEGIN
    chained := glassbox.chain_control_event(
        CASE WHEN p_on THEN 'kill_switch.on' ELSE 'kill_switch.off' END, 'kill_switch', p_tenant, seq_mark, prev_mark, hash_mark, event_id, event_time, event_tenant, event_action, event_actor,
        event_request, event_trace, hashing, stored);
    PERFORM set_config('synchronous_commit', 'on', true);
    IF p_on THEN
        INSERT INTO glassbox.kill_switch (tenant, reason, actor) VALUES (p_tenant, p_reason, p_actor)
            ON CONFLICT (tenant) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, since = now();
    ELSE
        DELETE FROM glassbox.kill_switch WHERE tenant = p_tenant;
    END IF;
    PERFORM pg_notify('glassbox_state', 'kill_switch');
    RETURN chained;
END $$;

-- The budget entry of ``p_tenant`` as its audit event states it: NULL when there is none.
CREATE FUNCTION glassbox.budget_entry(p_tenant text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('day', b.day_usd, 'month', b.month_usd))
    FROM glassbox.budgets b WHERE b.tenant = p_tenant
$$;

-- Sets (or, with p_remove, removes) the budget entry of ``p_tenant`` and chains its audit event (action
-- budget.change, resource {"type": "budget", "id": p_tenant}, ``before`` the entry as it is now, ``after`` the new
-- one), refused when ``before`` is not the entry as it is now (a concurrent change: read again and retry).
CREATE FUNCTION glassbox.budget_change(p_tenant text, p_day double precision, p_month double precision,
    p_remove boolean, seq_mark text, prev_mark text, hash_mark text, event_id text, event_time text,
    event_tenant text, event_action text, event_actor text, event_request text, event_trace text, hashing text,
    stored text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    event json := glassbox.parsed(stored);
    current_entry jsonb;
    new_entry jsonb;
    chained text;
BEGIN
    IF NOT p_remove AND (p_day < 0 OR p_month < 0 OR p_day = 'NaN' OR p_month = 'NaN'
                         OR p_day = 'Infinity' OR p_month = 'Infinity') THEN
        RAISE EXCEPTION 'glassbox: a budget is a finite amount of USD >= 0' USING ERRCODE = 'data_exception';
    END IF;
    PERFORM 1 FROM glassbox.budgets b WHERE b.tenant = p_tenant FOR UPDATE;
    current_entry := glassbox.budget_entry(p_tenant);
    new_entry := CASE WHEN p_remove THEN NULL
                      ELSE jsonb_strip_nulls(jsonb_build_object('day', p_day, 'month', p_month)) END;
    IF ((event->'before')::jsonb IS DISTINCT FROM coalesce(current_entry, 'null'::jsonb))
       OR ((event->'after')::jsonb IS DISTINCT FROM coalesce(new_entry, 'null'::jsonb)) THEN
        RAISE EXCEPTION 'glassbox: the audit event''s before/after is not the change (the entry is now %)',
            current_entry USING ERRCODE = 'serialization_failure';
    END IF;
    chained := glassbox.chain_control_event('budget.change', 'budget', p_tenant, seq_mark, prev_mark, hash_mark, event_id, event_time, event_tenant, event_action, event_actor,
        event_request, event_trace, hashing, stored);
    PERFORM set_config('synchronous_commit', 'on', true);
    IF p_remove THEN
        DELETE FROM glassbox.budgets WHERE tenant = p_tenant;
    ELSE
        INSERT INTO glassbox.budgets (tenant, day_usd, month_usd) VALUES (p_tenant, p_day, p_month)
            ON CONFLICT (tenant) DO UPDATE SET day_usd = excluded.day_usd, month_usd = excluded.month_usd,
                updated_at = now();
    END IF;
    PERFORM pg_notify('glassbox_state', 'budgets');
    RETURN chained;
END $$;

-- ---------------------------------------------------------------------------------------------------- spend
CREATE FUNCTION glassbox.check_usd(usd double precision) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF usd IS NULL OR usd < 0 OR usd = 'NaN' OR usd = 'Infinity' THEN
        RAISE EXCEPTION 'glassbox: % is not an amount of USD >= 0', usd USING ERRCODE = 'data_exception';
    END IF;
END $$;

-- Holds ``p_usd`` on one spend row (a tenant's, or the total's) when its day and month stay within the limits.
CREATE FUNCTION glassbox.hold(p_key text, p_day date, p_first date, p_next date, p_usd double precision,
    p_day_limit double precision, p_month_limit double precision)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    others double precision;
BEGIN
    INSERT INTO glassbox.spend (tenant, day) VALUES (p_key, p_day) ON CONFLICT DO NOTHING;
    SELECT coalesce(sum(o.spent_usd + o.reserved_usd), 0) INTO others FROM glassbox.spend o
        WHERE o.tenant = p_key AND o.day >= p_first AND o.day < p_next AND o.day <> p_day;
    UPDATE glassbox.spend s SET reserved_usd = s.reserved_usd + p_usd
        WHERE s.tenant = p_key AND s.day = p_day
          AND (p_day_limit IS NULL OR (s.spent_usd + s.reserved_usd < p_day_limit
               AND s.spent_usd + s.reserved_usd + p_usd <= p_day_limit))
          AND (p_month_limit IS NULL OR (others + s.spent_usd + s.reserved_usd < p_month_limit
               AND others + s.spent_usd + s.reserved_usd + p_usd <= p_month_limit));
    RETURN FOUND;
END $$;

-- Reserves ``p_usd`` against a tenant's limits and, with ``p_total``, against the total of every tenant, in one
-- transaction: the tenant's row is locked first, then the total's (every caller takes them in that order).
-- Returns the reservation's id, or NULL and which budget refused it ('tenant' or 'total').
CREATE FUNCTION glassbox.spend_reserve(p_tenant text, p_day date, p_first date, p_next date, p_usd double precision,
    p_day_limit double precision, p_month_limit double precision, p_total boolean, p_total_key text,
    p_total_day double precision, p_total_month double precision, p_ttl double precision)
RETURNS TABLE (reservation bigint, refused text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM glassbox.check_usd(p_usd);
    IF p_tenant = p_total_key THEN
        RAISE EXCEPTION 'glassbox: % is not a tenant', p_tenant USING ERRCODE = 'data_exception';
    END IF;
    IF NOT glassbox.hold(p_tenant, p_day, p_first, p_next, p_usd, p_day_limit, p_month_limit) THEN
        reservation := NULL; refused := 'tenant';
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_total AND NOT glassbox.hold(p_total_key, p_day, p_first, p_next, p_usd, p_total_day, p_total_month) THEN
        UPDATE glassbox.spend s SET reserved_usd = greatest(s.reserved_usd - p_usd, 0)
            WHERE s.tenant = p_tenant AND s.day = p_day;
        reservation := NULL; refused := 'total';
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO glassbox.reservations (tenant, day, usd, expires_at, total)
        VALUES (p_tenant, p_day, p_usd, now() + make_interval(secs => p_ttl), p_total)
        RETURNING id INTO reservation;
    refused := NULL;
    RETURN NEXT;
END $$;

-- Adds ``p_usd`` spent (releasing ``p_released`` reserved) to one spend row; returns the row's spend of the day and
-- that of the month's other days.
CREATE FUNCTION glassbox.book(p_key text, p_day date, p_first date, p_next date, p_usd double precision,
    p_released double precision)
RETURNS TABLE (spent double precision, others double precision)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO glassbox.spend AS s (tenant, day, spent_usd) VALUES (p_key, p_day, p_usd)
        ON CONFLICT (tenant, day) DO UPDATE
        SET spent_usd = s.spent_usd + excluded.spent_usd, reserved_usd = greatest(s.reserved_usd - p_released, 0)
        RETURNING s.spent_usd INTO spent;
    SELECT coalesce(sum(o.spent_usd), 0) INTO others FROM glassbox.spend o
        WHERE o.tenant = p_key AND o.day >= p_first AND o.day < p_next AND o.day <> p_day;
    RETURN NEXT;
END $$;

-- Replaces a reservation by the call's real cost (0 releases it), or, with no reservation (``p_id`` NULL), adds a
-- call's cost; the total's row too when the reservation held the total (or, without one, when ``p_total``).
-- Returns the tenant's and the total's spend of the day and of the month's other days (the total's NULL when not
-- booked).
CREATE FUNCTION glassbox.spend_settle(p_id bigint, p_usd double precision, p_tenant text, p_day date, p_first date,
    p_next date, p_total boolean, p_total_key text)
RETURNS TABLE (spent double precision, others double precision, total_spent double precision,
               total_others double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held double precision := 0;
    held_total boolean := p_total;
BEGIN
    PERFORM glassbox.check_usd(p_usd);
    IF p_tenant = p_total_key THEN
        RAISE EXCEPTION 'glassbox: % is not a tenant', p_tenant USING ERRCODE = 'data_exception';
    END IF;
    IF p_id IS NOT NULL THEN
        DELETE FROM glassbox.reservations r WHERE r.id = p_id AND r.tenant = p_tenant
            RETURNING r.usd, r.total INTO held, held_total;
        held := coalesce(held, 0);
        held_total := coalesce(held_total, p_total);
    END IF;
    SELECT b.spent, b.others INTO spent, others FROM glassbox.book(p_tenant, p_day, p_first, p_next, p_usd, held) b;
    IF held_total THEN
        SELECT b.spent, b.others INTO total_spent, total_others
            FROM glassbox.book(p_total_key, p_day, p_first, p_next, p_usd, held) b;
    END IF;
    RETURN NEXT;
END $$;

-- Marks a tenant crossing a ratio of a budget; true only for the first process that marks it.
CREATE FUNCTION glassbox.budget_threshold_mark(p_tenant text, p_period text, p_period_key text,
    p_ratio double precision, p_limit double precision)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO glassbox.budget_thresholds (tenant, period, period_key, ratio, limit_usd)
        VALUES (p_tenant, p_period, p_period_key, p_ratio, p_limit) ON CONFLICT DO NOTHING;
    RETURN FOUND;
END $$;

-- Counts one more model call of a request unless a limit refuses it (0: no limit); returns the calls counted, or
-- NULL when refused.
CREATE FUNCTION glassbox.request_count_call(p_id text, p_arrived double precision, p_calls integer,
    p_usd double precision, p_tokens bigint, p_seconds double precision)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO glassbox.request_usage AS r (request_id, calls, started_at)
        VALUES (p_id, 1, to_timestamp(p_arrived))
    ON CONFLICT (request_id) DO UPDATE SET calls = r.calls + 1, updated_at = now(),
        started_at = least(r.started_at, excluded.started_at)
    WHERE (p_calls = 0 OR r.calls < p_calls)
      AND (p_usd = 0 OR r.usd < p_usd)
      AND (p_tokens = 0 OR r.tokens < p_tokens)
      AND (p_seconds = 0 OR now() - least(r.started_at, excluded.started_at) < make_interval(secs => p_seconds))
    RETURNING calls
$$;

-- Adds a call's cost and tokens to its request.
CREATE FUNCTION glassbox.request_add_spend(p_id text, p_usd double precision, p_tokens bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM glassbox.check_usd(p_usd);
    IF p_tokens < 0 THEN
        RAISE EXCEPTION 'glassbox: % is not a number of tokens', p_tokens USING ERRCODE = 'data_exception';
    END IF;
    UPDATE glassbox.request_usage SET usd = usd + p_usd, tokens = tokens + p_tokens, updated_at = now()
        WHERE request_id = p_id;
END $$;

-- Releases expired reservations (a process that died mid-call) and forgets old per-request usage. Rows are
-- updated tenant by tenant, the total's last, in the order reservations lock them.
CREATE FUNCTION glassbox.state_maintain(p_request_seconds double precision, p_total_key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys text[];
    days date[];
    amounts double precision[];
BEGIN
    WITH gone AS (DELETE FROM glassbox.reservations WHERE expires_at < now() RETURNING tenant, day, usd, total),
    per_row AS (SELECT tenant AS key, day, usd FROM gone
                UNION ALL
                SELECT p_total_key, day, usd FROM gone WHERE total),
    summed AS (SELECT key, day, sum(usd) AS usd FROM per_row GROUP BY key, day)
    SELECT array_agg(key ORDER BY key = p_total_key, key, day), array_agg(day ORDER BY key = p_total_key, key, day),
           array_agg(usd ORDER BY key = p_total_key, key, day)
    INTO keys, days, amounts FROM summed;
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        UPDATE glassbox.spend s SET reserved_usd = greatest(s.reserved_usd - amounts[i], 0)
            WHERE s.tenant = keys[i] AND s.day = days[i];
    END LOOP;
    DELETE FROM glassbox.request_usage WHERE updated_at < now() - make_interval(secs => p_request_seconds);
END $$;

-- The tenants whose audit events the logged-in role may read (its row-level security policy): the list itself is
-- not readable by tenant auditors, who would otherwise learn which auditor reads which tenant.
CREATE FUNCTION glassbox.audited_tenants() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.tenant FROM glassbox.audit_readers r WHERE r.role_name = session_user
$$;

-- Nothing here runs for PUBLIC: EXECUTE is granted per role (glassbox.state.schema's grants).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA glassbox FROM PUBLIC;
DROP POLICY IF EXISTS writer_appends ON glassbox.audit_log;
