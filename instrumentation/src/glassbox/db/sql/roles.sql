-- The group roles glassbox grants to login roles. They exist once per cluster: created only when missing, and only
-- by a role allowed to create roles. None of them can log in, own anything, or bypass row-level security.
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
