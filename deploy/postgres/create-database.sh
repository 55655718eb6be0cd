#!/bin/sh
# Create (or update) Keycloak's PostgreSQL role and database. Idempotent: run it again
# to change the password. Run as the database superuser, e.g. on the database host:
#
#   sudo -u postgres KEYCLOAK_DB_PASSWORD='...' sh deploy/postgres/create-database.sh
#
# Variables: KEYCLOAK_DB_PASSWORD (required), KEYCLOAK_DB_NAME (default keycloak),
# KEYCLOAK_DB_USER (default keycloak); PGHOST/PGPORT as for psql.
set -eu
: "${KEYCLOAK_DB_PASSWORD:?set KEYCLOAK_DB_PASSWORD}"
DB_NAME=${KEYCLOAK_DB_NAME:-keycloak}
DB_USER=${KEYCLOAK_DB_USER:-keycloak}

# The password reaches psql through its environment (\getenv, psql 15+), never through a
# command line that `ps` would show.
export KEYCLOAK_DB_PASSWORD
psql -v ON_ERROR_STOP=1 -q -d postgres -v user="$DB_USER" -v db="$DB_NAME" <<'SQL'
\getenv pw KEYCLOAK_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'db', :'user', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
# Keycloak creates its tables in the public schema on first start: the role owns it.
psql -v ON_ERROR_STOP=1 -q -d "$DB_NAME" -v user="$DB_USER" <<'SQL'
SELECT format('ALTER SCHEMA public OWNER TO %I', :'user') \gexec
SQL
echo "database $DB_NAME ready for role $DB_USER"
