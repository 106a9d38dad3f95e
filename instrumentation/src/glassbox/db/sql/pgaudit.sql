-- PostgreSQL records every read of the audit table itself, whoever reads it and however (psql included), when the
-- pgaudit extension is loaded (shared_preload_libraries = 'pgaudit') and the migrating role is a superuser:
-- object auditing through the role glassbox_pgaudit (its SELECT on the audit table is what is recorded), and the
-- session classes ddl and role (ALTER TABLE ... DISABLE TRIGGER, GRANT, CREATE ROLE) in this database. Appends
-- never read that table (they read glassbox.audit_head), so only reads are logged.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgaudit') THEN
        RETURN;
    END IF;
    IF current_setting('shared_preload_libraries') !~ '(^|[ ,])pgaudit($|[ ,])' THEN
        RETURN;
    END IF;
    CREATE EXTENSION IF NOT EXISTS pgaudit;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'glassbox_pgaudit') THEN
        CREATE ROLE glassbox_pgaudit NOLOGIN;
    END IF;
    GRANT SELECT ON glassbox.audit_log TO glassbox_pgaudit;
    EXECUTE format('ALTER DATABASE %I SET pgaudit.role = %L', current_database(), 'glassbox_pgaudit');
    EXECUTE format('ALTER DATABASE %I SET pgaudit.log = %L', current_database(), 'ddl, role');
    EXECUTE format('ALTER DATABASE %I SET pgaudit.log_relation = %L', current_database(), 'on');
END $$;
