-- What each group role may do; idempotent, applied after every migration (a role created later gets its grants at
-- the next `glassbox state migrate`). Everything is revoked first, so a grant an earlier version made goes away.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_writer') THEN
        -- An app: reads the state and the trail, changes them only through the functions.
        REVOKE ALL ON ALL TABLES IN SCHEMA glassbox FROM glassbox_writer;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA glassbox FROM glassbox_writer;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA glassbox FROM glassbox_writer;
        GRANT USAGE ON SCHEMA glassbox TO glassbox_writer;
        GRANT SELECT ON glassbox.schema_version, glassbox.spend, glassbox.budgets, glassbox.kill_switch,
            glassbox.request_usage, glassbox.audit_log, glassbox.audit_checkpoints TO glassbox_writer;
        GRANT EXECUTE ON FUNCTION glassbox.audit_append, glassbox.audit_append_reads, glassbox.audit_checkpoint,
            glassbox.kill_switch_change,
            glassbox.budget_change, glassbox.spend_reserve, glassbox.spend_settle, glassbox.budget_threshold_mark,
            glassbox.request_count_call, glassbox.request_add_spend, glassbox.state_maintain TO glassbox_writer;
        DROP POLICY IF EXISTS writer_reads ON glassbox.audit_log;
        DROP POLICY IF EXISTS writer_appends ON glassbox.audit_log;
        CREATE POLICY writer_reads ON glassbox.audit_log FOR SELECT TO glassbox_writer USING (true);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_reader') THEN
        -- `glassbox audit verify|export`, `glassbox story`, dashboards: read everything, record their own reading.
        REVOKE ALL ON ALL TABLES IN SCHEMA glassbox FROM glassbox_reader;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA glassbox FROM glassbox_reader;
        GRANT USAGE ON SCHEMA glassbox TO glassbox_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA glassbox TO glassbox_reader;
        GRANT EXECUTE ON FUNCTION glassbox.audit_append_reads TO glassbox_reader;
        DROP POLICY IF EXISTS reader_reads ON glassbox.audit_log;
        CREATE POLICY reader_reads ON glassbox.audit_log FOR SELECT TO glassbox_reader USING (true);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_tenant_auditor') THEN
        -- The audit events of the tenants glassbox.audit_readers lists for the login role, nothing else.
        REVOKE ALL ON ALL TABLES IN SCHEMA glassbox FROM glassbox_tenant_auditor;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA glassbox FROM glassbox_tenant_auditor;
        GRANT USAGE ON SCHEMA glassbox TO glassbox_tenant_auditor;
        GRANT SELECT ON glassbox.audit_log, glassbox.schema_version TO glassbox_tenant_auditor;
        GRANT EXECUTE ON FUNCTION glassbox.audit_append_reads, glassbox.audited_tenants TO glassbox_tenant_auditor;
        DROP POLICY IF EXISTS tenant_auditor_reads ON glassbox.audit_log;
        CREATE POLICY tenant_auditor_reads ON glassbox.audit_log FOR SELECT TO glassbox_tenant_auditor
            USING (tenant IN (SELECT glassbox.audited_tenants()));
    END IF;
END $$;
