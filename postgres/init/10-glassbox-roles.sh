#!/bin/sh
# Runs once, when the data directory is new (the official image's /docker-entrypoint-initdb.d): the group roles
# glassbox grants to (`glassbox state migrate`, run as the superuser, gives them their grants), and two login roles
# that own nothing: glassbox_app for the apps (glassbox_writer) and glassbox_auditor for reading the audit trail
# (glassbox_reader). Their passwords come from the environment, never from this file. Running it again changes
# nothing but the two passwords.
set -eu
: "${GLASSBOX_POSTGRES_APP_PASSWORD:?set GLASSBOX_POSTGRES_APP_PASSWORD}"
: "${GLASSBOX_POSTGRES_AUDITOR_PASSWORD:?set GLASSBOX_POSTGRES_AUDITOR_PASSWORD}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$GLASSBOX_POSTGRES_APP_PASSWORD" \
    -v auditor_password="$GLASSBOX_POSTGRES_AUDITOR_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', name)
    FROM unnest(ARRAY['glassbox_writer', 'glassbox_reader', 'glassbox_tenant_auditor']) AS name
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) \gexec
SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login.name) THEN 'ALTER' ELSE 'CREATE' END,
              login.name, login.password)
    FROM (VALUES ('glassbox_app', :'app_password'), ('glassbox_auditor', :'auditor_password'))
        AS login (name, password) \gexec
GRANT glassbox_writer TO glassbox_app;
GRANT glassbox_reader TO glassbox_auditor;
SQL
