#!/usr/bin/env bash
# Installs the Debian packages the tests and `make stack` use, each one only
# when it is missing: headless Chromium (the Settings page tests),
# redis-server (the shared limiter), PostgreSQL 15 and python3 (`make stack`:
# scripts/stack.sh picks ports and polls health with it), nodejs and
# npm (the second SDK's client, scripts/node-client, run by
# TestNodeClientStartsAnEventWithOnlyTheEvent). Used by `make test` and
# .ci/run. Each missing package is installed on its own: one apt line fails
# whole when any package in it cannot be installed (e.g. Debian's npm next
# to a NodeSource nodejs, which brings its own npm).
set -euo pipefail

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  for pkg in "${missing[@]}"; do
    $SUDO apt-get install -y -qq "$pkg" >/dev/null
  done
fi

# scripts/node-client pins @temporalio/client 1.14.1, whose engines say
# node >= 18 (Debian 12's nodejs is 18.20; 1.15 and later need node 20).
node -e 'const [M] = process.versions.node.split(".").map(Number); if (M < 18) { console.error(`node ${process.version}: scripts/node-client needs node >= 18`); process.exit(1) }'
