#!/bin/sh
# Creates the namespace (DEFAULT_NAMESPACE, default "default") when missing,
# with the search attributes the delivery workflows set (the worker also adds
# any missing one when it starts: service.EnsureSearchAttributes). Safe to run
# again. Shared by docker-compose.yml (temporalio/admin-tools) and
# `make stack`; TEMPORAL_CLI is the temporal CLI (in PATH in admin-tools).
set -eu
TEMPORAL_CLI=${TEMPORAL_CLI:-temporal}
ADDR=${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS}
NS=${DEFAULT_NAMESPACE:-default}

i=0
until "$TEMPORAL_CLI" operator cluster health --address "$ADDR" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge "${TEMPORAL_HEALTH_ATTEMPTS:-120}" ]; then
    echo "Temporal at $ADDR is not healthy" >&2
    exit 1
  fi
  sleep 1
done

if "$TEMPORAL_CLI" operator namespace describe --address "$ADDR" -n "$NS" >/dev/null 2>&1; then
  echo "namespace $NS exists"
else
  "$TEMPORAL_CLI" operator namespace create --address "$ADDR" -n "$NS" --retention "${NAMESPACE_RETENTION:-168h}"
fi

names=""
# Keep in step with workflows/search.go and workflows/redeliver.go
# (TestCreateNamespaceScriptListsEverySearchAttribute checks it).
# A namespace just registered is known to the frontend after its namespace
# cache refreshes (every 2 s by default: system.namespaceCacheRefreshInterval).
i=0
until have=$("$TEMPORAL_CLI" operator search-attribute list --address "$ADDR" -n "$NS" 2>&1); do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "$have" >&2
    exit 1
  fi
  sleep 1
done
for sa in HariWorkspace:Keyword HariWebhookIDs:KeywordList HariEventType:Keyword \
  HariDeliveryStatus:Keyword HariWebhookKeys:KeywordList HariSkippedKeys:KeywordList HariRedeliveryOf:Keyword; do
  name=${sa%%:*}
  names="$names $name"
  case $have in
    *"$name "*) ;;
    *) "$TEMPORAL_CLI" operator search-attribute create --address "$ADDR" -n "$NS" --name "$name" --type "${sa#*:}" ;;
  esac
done
# Search attributes just added are known to queries and starts only once the
# server's namespace cache refreshes (every 2 s by default): wait until a query naming
# each of them is accepted, so that nothing started right after this script
# is refused.
query=""
for name in $names; do
  query="${query:+$query AND }$name = 'ready'"
done
i=0
until "$TEMPORAL_CLI" workflow count --address "$ADDR" -n "$NS" --query "$query" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 120 ]; then
    "$TEMPORAL_CLI" workflow count --address "$ADDR" -n "$NS" --query "$query" >&2 || true
    exit 1
  fi
  sleep 1
done
echo "namespace $NS ready"
