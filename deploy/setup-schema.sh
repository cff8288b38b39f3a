#!/bin/sh
# Creates Temporal's two PostgreSQL databases when missing and brings their
# schema to the newest version of the temporal-sql-tool that runs it (the
# server's). Safe to run again: an existing database is kept and only
# updated, and one without the tool's version tables gets them first. Shared by docker-compose.yml (temporalio/admin-tools) and
# `make stack`; the variables come from deploy/temporal.env.
set -eu
: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS}" "${POSTGRES_USER:?set POSTGRES_USER}"
SQL_TOOL=${SQL_TOOL:-temporal-sql-tool}
export SQL_PASSWORD="${POSTGRES_PWD:-}"

sqltool() {
  "$SQL_TOOL" --plugin "${DB:-postgres12}" --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" "$@"
}

for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db=${pair%%:*}
  schema=postgresql/v12/${pair#*:}
  # The tool (1.29.1) takes an existing database as created; older ones
  # said "already exists".
  if out=$(sqltool --db "$db" create 2>&1); then
    echo "database $db ready"
  else
    case $out in
      *"already exists"*) echo "database $db exists" ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
  # The tool's version tables at version 0.0, whether the database is new
  # or not: it may exist without them (the postgres image creates its
  # POSTGRES_DB, or a run stopped between create and this step). On a
  # database that has them this changes nothing (CREATE TABLE IF NOT
  # EXISTS; a version above 0.0 is kept), so update-schema below always
  # finds schema_version and applies every versioned step still missing.
  sqltool --db "$db" setup-schema -v 0.0
  sqltool --db "$db" update-schema --schema-name "$schema"
done
echo "schema up to date"
