#!/bin/sh
# Creates Temporal's two PostgreSQL databases when missing and brings their
# schema to the newest version of the temporal-sql-tool that runs it (the
# server's). Safe to run again: an existing database is kept and only
# updated. Shared by docker-compose.yml (temporalio/admin-tools) and
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
  if out=$(sqltool --db "$db" create 2>&1); then
    echo "database $db created"
    # Version 0.0: the tool's version tables only; update-schema below
    # applies every versioned step.
    sqltool --db "$db" setup-schema -v 0.0
  else
    case $out in
      *"already exists"*) echo "database $db exists" ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
  sqltool --db "$db" update-schema --schema-name "$schema"
done
echo "schema up to date"
