#!/usr/bin/env bash
# ca-bundle.sh OUT PEM...: writes the CA bundle the worker trusts through
# SSL_CERT_FILE: the system roots, then the user's own SSL_CERT_FILE when it
# is set (an internal CA keeps working), then each PEM given (the demo
# receiver's self-signed certificate). Used by `make run` and `make stack`.
set -euo pipefail
out=$1; shift
system=/etc/ssl/certs/ca-certificates.crt
parts=()
[[ -r $system ]] && parts+=("$system")
if [[ -n ${SSL_CERT_FILE:-} ]]; then
  if [[ ! -r $SSL_CERT_FILE ]]; then
    echo "SSL_CERT_FILE=$SSL_CERT_FILE cannot be read; unset it or point it at a PEM file" >&2
    exit 1
  fi
  # A bundle made by an earlier run, passed back in, is not appended to itself.
  if [[ ! -e $out || ! $SSL_CERT_FILE -ef $out ]]; then
    parts+=("$SSL_CERT_FILE")
  fi
fi
parts+=("$@")
tmp=$(mktemp "$out.XXXXXX")
for p in "${parts[@]}"; do
  cat "$p"
  # A file without a final newline would glue its END line to the next BEGIN.
  [[ -z $(tail -c1 "$p") ]] || echo
done >"$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$out"
