#!/usr/bin/env bash
# Starts the embedded default: a Temporal dev server persisted to
# .data/temporal.db (Web UI on http://localhost:8233, decoding payloads
# through the worker's codec endpoint), the demo HTTPS receiver on
# https://127.0.0.1:9443 and the delivery worker. Ctrl-C stops all three.
# Each place can be moved (TestQuickStartRunsTheREADME runs this script on
# free ports with its own data and binaries): TEMPORAL_PORT, UI_PORT,
# HARI_HTTP_ADDR, HARI_RECEIVER_ADDR (the demo receiver; the example
# webhook is seeded with its address), HARI_DATA_DIR (keys, certificates,
# the dev server's database; default .data), HARI_BIN_DIR (where the
# worker, starter and receiver are built; default bin) and TEMPORAL_CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${HARI_DATA_DIR:-.data}
BIN=${HARI_BIN_DIR:-bin}
TEMPORAL=${TEMPORAL_CLI:-bin/temporal}
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
UI_PORT=${UI_PORT:-8233}
HTTP_ADDR=${HARI_HTTP_ADDR:-127.0.0.1:8234}
RECEIVER_ADDR=${HARI_RECEIVER_ADDR:-127.0.0.1:9443}
mkdir -p "$DATA" "$BIN"
DATA_ABS=$(cd "$DATA" && pwd)

# Payload codec key: made once, kept in .data (git-ignored).
if [[ ! -s $DATA/codec.keys ]]; then
  umask 077
  printf 'dev1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$DATA/codec.keys"
  umask 022
fi
# The worker and the starter refuse a key file that group or others can read.
chmod 600 "$DATA/codec.keys"
export HARI_CODEC_KEYS_FILE=$DATA_ABS/codec.keys
# HTTP API signing key (HS256, for workspace and service tokens): made once.
if [[ ! -s $DATA/api.keys ]]; then
  umask 077
  printf 'dev1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$DATA/api.keys"
  umask 022
fi
chmod 600 "$DATA/api.keys" "$DATA/codec.keys"
export HARI_API_KEYS_FILE=$DATA_ABS/api.keys
# Direct targets with plaintext secrets (direct mode, such as
# testdata/events/stage_changed.json) are refused unless allowed (see the
# README's trust model); make demo-event does not need them.
export HARI_ALLOW_DIRECT_TARGETS=${HARI_ALLOW_DIRECT_TARGETS-1}
# The demo receiver is on loopback, which the SSRF guard blocks unless allowed.
export HARI_ALLOW_CIDRS=${HARI_ALLOW_CIDRS-127.0.0.1/32}

# The demo receiver's self-signed certificate, trusted by the worker
# through SSL_CERT_FILE next to the system roots and the user's own
# SSL_CERT_FILE (appended, not replaced: an internal CA keeps working).
go build -o "$BIN/receiver" ./receiver
go build -o "$BIN/worker" ./worker
go build -o "$BIN/starter" ./starter
"$BIN/receiver" -gen-cert -cert "$DATA/receiver" >/dev/null
scripts/ca-bundle.sh "$DATA/ca-bundle.pem" "$DATA/receiver.pem"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "starting Temporal dev server on 127.0.0.1:$TEMPORAL_PORT (Web UI http://localhost:$UI_PORT, data $DATA/temporal.db)"
# The server's garbage collector as in deploy/temporal.env (GOGC, GOMEMLIMIT);
# deploy/dynamicconfig.yaml's values; our search attributes, created with the
# namespace of a new data folder (both lists checked by tests; on an existing
# one the worker adds any missing attribute and waits until it is accepted).
server_gc=$(grep -E '^GO(GC|MEMLIMIT)=' deploy/temporal.env)
# shellcheck disable=SC2086 # one NAME=VALUE per word
env $server_gc "$TEMPORAL" server start-dev \
  --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$UI_PORT" \
  --db-filename "$DATA/temporal.db" \
  --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
  --ui-codec-endpoint "http://$HTTP_ADDR/codec" \
  --dynamic-config-value matching.enableFairness=true \
  --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
  --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
  --dynamic-config-value system.forceSearchAttributesCacheRefreshOnRead=false \
  --search-attribute HariDeliveryStatus=Keyword --search-attribute HariEventType=Keyword \
  --search-attribute HariRedeliveryOf=Keyword --search-attribute HariSkippedKeys=KeywordList \
  --search-attribute HariWebhookIDs=KeywordList --search-attribute HariWebhookKeys=KeywordList \
  --search-attribute HariWorkspace=Keyword \
  --log-level warn >"$DATA/temporal.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  if "$TEMPORAL" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
"$TEMPORAL" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" >/dev/null \
  || { echo "Temporal did not start; see $DATA/temporal.log"; exit 1; }

echo "starting demo receiver on https://$RECEIVER_ADDR (secret demo-secret-2026)"
"$BIN/receiver" -addr "$RECEIVER_ADDR" -secret demo-secret-2026 -cert "$DATA/receiver" &
pids+=($!)

# -dev: the codec endpoint takes no token (the dev server's Web UI cannot
# send one); the API still requires signed tokens, minted below.
echo "starting worker (codec endpoint and health on http://$HTTP_ADDR)"
SSL_CERT_FILE=$DATA_ABS/ca-bundle.pem TEMPORAL_ADDRESS=127.0.0.1:$TEMPORAL_PORT HARI_HTTP_ADDR=$HTTP_ADDR \
  HARI_LOG_CONSOLE=${HARI_LOG_CONSOLE:-1} "$BIN/worker" -dev &
pids+=($!)

# A workspace token for the Settings link (in the fragment, which the
# browser never sends to a server; the page keeps it for the tab only).
WORKSPACE=${HARI_WORKSPACE:-yourcompany}
TOKEN=$("$BIN/starter" token --workspace "$WORKSPACE" --ttl 12h)

# The example webhook of the Quick start (testdata/webhooks/demo.json: won
# opportunities to the demo receiver), made once: make demo-event publishes
# an event it matches, at the demo receiver's address. The worker may still
# be starting: try for a minute.
SEEDED=""
for _ in $(seq 1 30); do
  if SEEDED=$(sed "s#https://127.0.0.1:9443/#https://$RECEIVER_ADDR/#" testdata/webhooks/demo.json |
    TEMPORAL_ADDRESS=127.0.0.1:$TEMPORAL_PORT "$BIN/starter" webhooks ensure --workspace "$WORKSPACE" --file - 2>&1); then break; fi
  SEEDED="could not seed the example webhook (make demo-event will match no webhook): $SEEDED"
  sleep 2
done
echo "example webhook in workspace $WORKSPACE:"
echo "$SEEDED" | sed 's/^/  /'

cat <<MSG

HARi webhooks is running.
  Settings page:  http://$HTTP_ADDR/settings/webhooks?workspace=$WORKSPACE#token=$TOKEN
                  (a token of workspace $WORKSPACE, valid 12 h; another: HARI_API_KEYS_FILE=$DATA/api.keys bin/starter token --workspace W)
  HTTP API:       http://$HTTP_ADDR/api/v1/workspaces/$WORKSPACE/...  with  Authorization: Bearer <token>
                  (HARI_API_KEYS_FILE=$DATA/api.keys bin/starter token --service  for every workspace)
  Web UI:         http://localhost:$UI_PORT
  Publish a demo: make demo-event     (an opportunity moves to Closed Won: the example webhook sends it to the demo receiver;
                  then open Delivery log on the Settings page)
  Stop:           Ctrl-C
MSG
wait -n "${pids[@]}"
