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

# Keep in step with workflows/search.go and workflows/redeliver.go
# (TestCreateNamespaceScriptListsEverySearchAttribute checks it).
# A namespace just registered is known to the frontend after its cache
# refreshes (about 10 s).
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
  case $have in
    *"$name "*) ;;
    *) "$TEMPORAL_CLI" operator search-attribute create --address "$ADDR" -n "$NS" --name "$name" --type "${sa#*:}" ;;
  esac
done
echo "namespace $NS ready"
