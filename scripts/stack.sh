#!/usr/bin/env bash
# The production shape without Docker (`make stack`): the Temporal server
# (bin/temporal-server, 1.29.1) on a private PostgreSQL cluster under
# .data/stack/pg (persistence and visibility, schema set up and updated by
# bin/temporal-sql-tool), the default namespace with our search attributes,
# redis-server for the shared per-workspace limit, TWO delivery workers and
# the Temporal Web UI (bin/temporal-ui-server) pointed at the codec endpoint.
# The server reads deploy/temporal/hari.yaml with the environment list
# deploy/temporal.env and the dynamic config deploy/dynamicconfig.yaml,
# the same files docker-compose.yml uses. Ctrl-C stops everything; a second
# run on the same .data/stack resumes (same databases, same keys).
#
# Each long-running process is supervised: it is started again when it
# exits (as compose's restart policy does), so a killed worker or server
# comes back. Everything binds to 127.0.0.1. Environment:
#   STACK_DIR         state folder (default .data/stack)
#   STACK_FREE_PORTS  1: every port is a free one picked at start (tests);
#                     otherwise Temporal 7233, Web UI 8080, workers 8234 and
#                     8235, PostgreSQL 5433, Redis 6380, pprof 7936
#   SSL_CERT_FILE     extra CAs the workers trust (appended to the system roots)
#   HARI_ALLOW_CIDRS, HARI_ALLOW_DIRECT_TARGETS  passed on to the workers
#                     (unset: production defaults, nothing internal reachable)
#   STACK_WATCH_PID   stop when this process is gone (the integration tests)
#   STACK_SERVER_ONLY 1: PostgreSQL and the Temporal server only (the benchmark)
# $STACK_DIR/stack.env describes the running stack (addresses, files, pids);
# it exists only while every part is up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STACK=${STACK_DIR:-.data/stack}
mkdir -p "$STACK"
STACK=$(cd "$STACK" && pwd)
# One stack per state folder: a second run would take over the first one's
# database and pid files. The lock goes with this shell (fd 9 is closed for
# every process it starts).
exec 9>"$STACK/lock"
flock -n 9 || { echo "another make stack is running on $STACK (it holds $STACK/lock)" >&2; exit 1; }
RUN=$STACK/run
LOGS=$STACK/logs
mkdir -p "$RUN" "$LOGS" "$STACK/bin"
# Parts a killed run left running (each runs in a session of its own, so
# they outlive it): stop them, so that ours start on this run's ports. A
# PID counts only while it is still a process started from this folder.
for f in "$RUN"/*.pid; do
  [[ -e $f ]] || continue
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$PWD" ]]; then
    echo "stopping the $(basename "$f" .pid) a killed run left (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
  fi
done
rm -f "$STACK/stack.env" "$RUN"/*.pid "$RUN/stopping"

# The environment lists shared with docker-compose.yml.
set -a
# shellcheck source=/dev/null
. deploy/temporal.env
# shellcheck source=/dev/null
. deploy/worker.env
set +a
# deploy/temporal.env's GOGC and GOMEMLIMIT tune the Temporal server's Go
# runtime only: the other parts (workers, Web UI, schema tool) keep Go's
# defaults, as in compose, where only the server's containers read that list.
SERVER_GOGC=$GOGC SERVER_GOMEMLIMIT=$GOMEMLIMIT
unset GOGC GOMEMLIMIT

for b in bin/temporal bin/temporal-server bin/temporal-sql-tool bin/temporal-ui-server; do
  [[ -x $b ]] || { echo "$b is missing: run make stack (it builds it)"; exit 1; }
done
PG_BIN=${PG_BIN:-$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -1 || true)}
[[ -x $PG_BIN/initdb ]] || { echo "PostgreSQL binaries not found (apt-get install postgresql, or set PG_BIN)"; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)"; exit 1; }

# The ports, in this order: PostgreSQL, Redis, the Temporal server's
# frontend gRPC and HTTP, history, matching, worker, the four membership
# ports, pprof, the Web UI and the two workers.
PORT_NAMES=(PG_PORT REDIS_PORT FRONTEND_GRPC_PORT FRONTEND_HTTP_PORT HISTORY_GRPC_PORT
  MATCHING_GRPC_PORT WORKER_GRPC_PORT FRONTEND_MEMBERSHIP_PORT HISTORY_MEMBERSHIP_PORT
  MATCHING_MEMBERSHIP_PORT WORKER_MEMBERSHIP_PORT PPROF_PORT UI_PORT W1_PORT W2_PORT)
FIXED_PORTS=(5433 6380 7233 7243 7234 7235 7239 6933 6934 6935 6939 7936 8080 8234 8235)
if [[ ${STACK_FREE_PORTS:-} == 1 ]]; then
  # Free ports below 32768 (Temporal stores membership ports in a PostgreSQL
  # smallint, and the kernel's ephemeral ports, what port 0 gives, are
  # above), all picked by one process that holds every socket until all are
  # chosen, so no two parts get the same port.
  mapfile -t ports < <(python3 -c '
import random, socket, sys
n = int(sys.argv[1])
held = []
for _ in range(20000):
    if len(held) == n:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(20000, 32000)))
    except OSError:
        s.close()
        continue
    held.append(s)
else:
    raise SystemExit("no %d free ports in 20000-32000" % n)
print("\n".join(str(s.getsockname()[1]) for s in held))
' "${#PORT_NAMES[@]}")
  [[ ${#ports[@]} -eq ${#PORT_NAMES[@]} ]] || { echo "could not pick ${#PORT_NAMES[@]} free ports"; exit 1; }
else
  ports=("${FIXED_PORTS[@]}")
  # Each fixed port must be free: a part that cannot bind is restarted for
  # ever, and the health waits would pass against whatever holds the port
  # (e.g. make run's dev server on 7233 and worker on 8234).
  busy=$(python3 -c '
import socket, sys
names, ports = sys.argv[1].split(), sys.argv[2].split()
for name, port in zip(names, ports):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError as e:
        print("  127.0.0.1:%s (%s): %s" % (port, name, e.strerror))
    finally:
        s.close()
' "${PORT_NAMES[*]}" "${ports[*]}")
  if [[ -n $busy ]]; then
    printf 'these ports are in use (is make run or another stack up?); stop what holds them, or use STACK_FREE_PORTS=1:\n%s\n' "$busy" >&2
    exit 1
  fi
fi
for i in "${!PORT_NAMES[@]}"; do printf -v "${PORT_NAMES[i]}" '%s' "${ports[i]}"; done
export FRONTEND_GRPC_PORT FRONTEND_HTTP_PORT HISTORY_GRPC_PORT MATCHING_GRPC_PORT WORKER_GRPC_PORT \
  FRONTEND_MEMBERSHIP_PORT HISTORY_MEMBERSHIP_PORT MATCHING_MEMBERSHIP_PORT WORKER_MEMBERSHIP_PORT PPROF_PORT
W1_ADDR=127.0.0.1:$W1_PORT
W2_ADDR=127.0.0.1:$W2_PORT
# The UI and the codec endpoint are named by the same host, 127.0.0.1 (the
# address they listen on), so that the codec's sign-in cookie (SameSite=
# Strict) goes with the UI's codec calls (credentials included). Not
# "localhost": a browser tries [::1] first, where another local process
# could listen on the same port and receive the sign-in.
CODEC_URL=http://$W1_ADDR/codec
TEMPORAL_ADDR=127.0.0.1:$FRONTEND_GRPC_PORT
REDIS_ADDR=127.0.0.1:$REDIS_PORT

# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# postgres user that Debian's package creates.
asdb() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Secrets, made once and kept (chmod 600): the database password, the
# payload codec key, the API's token signing key and the codec token.
umask 077
secret() { [[ -s $1 ]] || printf '%s%s\n' "$2" "$(head -c 32 /dev/urandom | base64 -w0)" >"$1"; chmod 600 "$1"; }
secret "$STACK/pg.password" ""
secret "$STACK/codec.keys" "stack1:"
secret "$STACK/api.keys" "stack1:"
secret "$STACK/codec.token" ""
umask 022

PGDATA=$STACK/pg
if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$STACK"; then
  # The postgres user cannot reach $STACK (a clone under /root, mode 700):
  # the cluster lives in a folder it can reach, named in pgdata.path so
  # that the next run resumes it.
  if [[ -s $STACK/pgdata.path ]]; then
    PGDATA=$(cat "$STACK/pgdata.path")
  else
    base=$(mktemp -d /var/tmp/hari-stack-pg.XXXXXX)
    chmod 755 "$base"
    PGDATA=$base/pg
    echo "$PGDATA" >"$STACK/pgdata.path"
  fi
fi
if [[ ! -s $PGDATA/PG_VERSION ]]; then
  echo "initialising PostgreSQL in $PGDATA"
  mkdir -p "$PGDATA"
  pwfile=$PGDATA.pwfile
  install -m 600 "$STACK/pg.password" "$pwfile"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PGDATA" "$pwfile"; fi
  chmod 700 "$PGDATA"
  asdb "$PG_BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C >"$LOGS/initdb.log"
  rm -f "$pwfile"
fi

pids=()
names=()
stopping=
pg_started=
# stop_part NAME: the part itself, if it still runs when its supervisor has
# gone (a supervisor that was killed): TERM, then KILL after 30 s.
stop_part() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((j=0; j<300; j++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
# A second Ctrl-C (or TERM, or HUP) while the stack stops: stop everything
# at once rather than leave any part running.
force_stop() {
  trap - EXIT INT TERM HUP
  echo "second signal: stopping every part at once"
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for f in "$RUN"/*.pid; do [[ -e $f ]] && { kill -KILL "$(cat "$f")" 2>/dev/null || true; }; done
  if [[ -n $pg_started ]]; then
    asdb "$PG_BIN/pg_ctl" -D "$PGDATA" stop -m immediate >/dev/null 2>&1 || true
  fi
  exit 130
}
cleanup() {
  trap - EXIT
  trap force_stop INT TERM HUP
  stopping=1
  touch "$RUN/stopping"
  rm -f "$STACK/stack.env"
  # Workers first (they finish their POSTs), then the UI, the server and Redis.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
    stop_part "${names[i]}"
  done
  if [[ -n $pg_started ]]; then
    asdb "$PG_BIN/pg_ctl" -D "$PGDATA" stop -m fast -t 30 >/dev/null 2>&1 \
      || asdb "$PG_BIN/pg_ctl" -D "$PGDATA" stop -m immediate >/dev/null 2>&1 || true
  fi
  echo "stack stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

# supervise NAME CMD...: runs CMD (environment as set by the caller), logs to
# logs/NAME.log, writes run/NAME.pid, and starts it again 1 s after it exits
# until the stack stops. CMD runs in a session of its own (setsid) and the
# supervisor ignores SIGINT and SIGHUP, so a Ctrl-C in the terminal (or its
# closing) reaches this script alone, whose cleanup stops the parts in order
# (workers first, PostgreSQL last) instead of every part at the same moment.
# A TERM that comes while the part is being started is kept and applied as
# soon as its PID is known. A part still running STACK_STOP_GRACE seconds
# (default 60) after its TERM is killed, so that one part stuck in its
# shutdown cannot keep the stack from stopping.
supervise() {
  local name=$1; shift
  (
    child= stop= watchdog=
    trap '' INT HUP
    term_child() {
      [[ -n $child && -z $watchdog ]] || return 0
      kill -TERM "$child" 2>/dev/null
      (sleep "${STACK_STOP_GRACE:-60}"; echo "$(date -u +%FT%TZ) $name still running ${STACK_STOP_GRACE:-60}s after TERM: killing it" >>"$LOGS/$name.log"; kill -KILL "$child" 2>/dev/null) &
      watchdog=$!
    }
    trap 'stop=1; term_child' TERM
    while [[ -z $stop && ! -e $RUN/stopping ]]; do
      setsid "$@" >>"$LOGS/$name.log" 2>&1 9>&- &
      child=$!
      echo "$child" >"$RUN/$name.pid"
      [[ -n $stop ]] && term_child
      rc=0; wait "$child" || rc=$?
      # A TERM interrupts wait: wait again until the part has exited.
      while kill -0 "$child" 2>/dev/null; do wait "$child" 2>/dev/null || true; done
      [[ -n $watchdog ]] && { kill "$watchdog" 2>/dev/null || true; }
      child=
      [[ -n $stop || -e $RUN/stopping ]] && break
      echo "$(date -u +%FT%TZ) $name exited ($rc); starting it again" | tee -a "$LOGS/$name.log" >&2
      sleep 1
    done
    exit 0
  ) &
  pids+=($!)
  names+=("$name")
}

watched_gone() { [[ -n ${STACK_WATCH_PID:-} ]] && ! kill -0 "$STACK_WATCH_PID" 2>/dev/null; }

waitfor() { # waitfor WHAT SECONDS CMD...
  local what=$1 secs=$2; shift 2
  for ((i=0; i<secs*2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [[ -n $stopping ]] && exit 1
    watched_gone && exit 0
    sleep 0.5
  done
  echo "$what did not come up within ${secs}s; see $LOGS/" >&2
  exit 1
}

# A PostgreSQL still running on this cluster was left by a run that was
# killed (this run holds the lock): stop it, so that ours starts on this
# run's port.
if asdb "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  echo "stopping the PostgreSQL a killed run left on $PGDATA"
  asdb "$PG_BIN/pg_ctl" -D "$PGDATA" stop -m fast >/dev/null
fi
echo "starting PostgreSQL on 127.0.0.1:$PG_PORT ($PGDATA)"
# Loopback TCP only, no Unix socket: a socket path over 107 bytes (a deep
# STACK_DIR) would stop PostgreSQL from starting.
pg_started=1
asdb "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/postgresql.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=''" start >/dev/null 9>&-

export POSTGRES_SEEDS=127.0.0.1 DB_PORT=$PG_PORT
POSTGRES_PWD=$(cat "$STACK/pg.password"); export POSTGRES_PWD
echo "setting up the schema (temporal, temporal_visibility)"
SQL_TOOL=$ROOT/bin/temporal-sql-tool sh deploy/setup-schema.sh >"$LOGS/schema.log" 2>&1 \
  || { tail -20 "$LOGS/schema.log"; exit 1; }

if [[ -z ${STACK_SERVER_ONLY:-} ]]; then
  echo "starting redis-server on $REDIS_ADDR"
  supervise redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
fi

echo "starting the Temporal server on $TEMPORAL_ADDR (pprof 127.0.0.1:$PPROF_PORT)"
export BIND_ON_IP=127.0.0.1 TEMPORAL_BROADCAST_ADDRESS=127.0.0.1
export DYNAMIC_CONFIG_FILE_PATH=$ROOT/deploy/dynamicconfig.yaml
GOGC=$SERVER_GOGC GOMEMLIMIT=$SERVER_GOMEMLIMIT supervise temporal bin/temporal-server --root "$ROOT/deploy" --config temporal --env hari --allow-no-auth start
waitfor "Temporal" 120 bin/temporal operator cluster health --address "$TEMPORAL_ADDR"
TEMPORAL_CLI=$ROOT/bin/temporal TEMPORAL_ADDRESS=$TEMPORAL_ADDR sh deploy/create-namespace.sh >"$LOGS/namespace.log" 2>&1 \
  || { tail -20 "$LOGS/namespace.log"; exit 1; }

# STACK_SERVER_ONLY (the benchmark, which runs its own workers and Redis):
# PostgreSQL and the Temporal server only.
if [[ -z ${STACK_SERVER_ONLY:-} ]]; then
# The Web UI reads the temporalio/ui image's own config template (the
# module's config/docker.yaml), driven by the same variables as in compose.
UI_ROOT=$(go list -modfile=tools/go.mod -m -f '{{.Dir}}' github.com/temporalio/ui-server/v2)
echo "starting the Web UI on http://127.0.0.1:$UI_PORT (codec endpoint $CODEC_URL)"
TEMPORAL_ADDRESS=$TEMPORAL_ADDR TEMPORAL_UI_PORT=$UI_PORT TEMPORAL_CODEC_ENDPOINT=$CODEC_URL \
  TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true TEMPORAL_CODEC_DEFAULT_ERROR_LINK=$CODEC_URL/signin \
  TEMPORAL_CODEC_DEFAULT_ERROR_MESSAGE="Payloads are encrypted. Sign this browser in to the codec with the codec token" \
  TEMPORAL_CORS_ORIGINS=http://127.0.0.1:$UI_PORT,http://localhost:$UI_PORT TEMPORAL_NOTIFY_ON_NEW_VERSION=false \
  supervise ui bin/temporal-ui-server --root "$UI_ROOT" --config config --env docker start

go build -o "$STACK/bin/worker" ./worker
go build -o "$STACK/bin/starter" ./starter
scripts/ca-bundle.sh "$STACK/ca-bundle.pem"
for n in 1 2; do
  addr=W${n}_ADDR
  echo "starting worker $n (API, codec endpoint, /healthz on http://${!addr})"
  TEMPORAL_ADDRESS=$TEMPORAL_ADDR HARI_HTTP_ADDR=${!addr} HARI_REDIS_ADDR=$REDIS_ADDR \
    HARI_CODEC_KEYS_FILE=$STACK/codec.keys HARI_API_KEYS_FILE=$STACK/api.keys \
    HARI_CODEC_TOKEN=$(cat "$STACK/codec.token") SSL_CERT_FILE=$STACK/ca-bundle.pem \
    HARI_UI_ORIGIN=http://localhost:$UI_PORT,http://127.0.0.1:$UI_PORT HARI_TEMPORAL_UI=http://127.0.0.1:$UI_PORT \
    supervise "worker$n" "$STACK/bin/worker"
done
httpok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1"; }
waitfor "worker 1" 60 httpok "http://$W1_ADDR/healthz"
waitfor "worker 2" 60 httpok "http://$W2_ADDR/healthz"
waitfor "Web UI" 60 httpok "http://127.0.0.1:$UI_PORT/"
fi

cat >"$STACK/stack.env.tmp" <<ENV
TEMPORAL_ADDRESS=$TEMPORAL_ADDR
TEMPORAL_NAMESPACE=$TEMPORAL_NAMESPACE
HARI_TASK_QUEUE=$HARI_TASK_QUEUE
HARI_CODEC_KEYS_FILE=$STACK/codec.keys
HARI_API_KEYS_FILE=$STACK/api.keys
HARI_CODEC_TOKEN_FILE=$STACK/codec.token
HARI_REDIS_ADDR=$REDIS_ADDR
WORKER1_HTTP=$W1_ADDR
WORKER2_HTTP=$W2_ADDR
UI_URL=http://127.0.0.1:$UI_PORT
CODEC_URL=$CODEC_URL
PPROF_ADDR=127.0.0.1:$PPROF_PORT
PG_BIN=$PG_BIN
PGDATA=$PGDATA
PG_PORT=$PG_PORT
RUN_DIR=$RUN
ENV
mv "$STACK/stack.env.tmp" "$STACK/stack.env"

cat <<MSG

The production shape is running (state in $STACK, logs in $LOGS).
  Temporal:   $TEMPORAL_ADDR (PostgreSQL 127.0.0.1:$PG_PORT, databases temporal and temporal_visibility)
  Web UI:     http://127.0.0.1:$UI_PORT (to see payloads decoded, sign this browser in once at
              $CODEC_URL/signin with the token in $STACK/codec.token)
  Workers:    http://$W1_ADDR and http://$W2_ADDR (API, Settings page, /healthz, /metrics), limit shared through Redis $REDIS_ADDR
  Token:      HARI_API_KEYS_FILE=$STACK/api.keys $STACK/bin/starter token --workspace yourcompany
  Publish:    HARI_CODEC_KEYS_FILE=$STACK/codec.keys TEMPORAL_ADDRESS=$TEMPORAL_ADDR $STACK/bin/starter publish --file ...
  Stop:       Ctrl-C
MSG
# Runs until Ctrl-C (or SIGTERM); the supervisors keep every part up. With
# STACK_WATCH_PID (the integration tests' process), it also stops when that
# process is gone, so a test binary that dies leaves nothing running.
while :; do
  if watched_gone; then
    echo "process $STACK_WATCH_PID is gone: stopping"
    exit 0
  fi
  sleep 1
done
