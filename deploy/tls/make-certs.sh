#!/usr/bin/env bash
# Makes what secure channels need, for a test cluster or a first setup:
# a CA, the aggregator's server certificate (for 127.0.0.1, localhost and
# the names or addresses given), client certificates for agents and for the CLI, and a
# bearer token. Real clusters bring their own PKI; the file names are what
# deploy/stack.tls.yml and the README expect.
#   deploy/tls/make-certs.sh OUT_DIR [SERVER_NAME...]
# Idempotent: existing files are kept.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [SERVER_NAME...]}
shift || true
mkdir -p "$out"
cd "$out"
umask 077

if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=ghostpeer CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
fi

# name CN [SAN...]: a key and a certificate signed by the CA.
issue() {
  local name=$1 cn=$2
  shift 2
  [[ -f "$name.pem" ]] && return 0
  local san="DNS:localhost,IP:127.0.0.1"
  for extra in "$@"; do
    # An address (what agents on other nodes dial) is an IP name, not a DNS one.
    if [[ "$extra" =~ ^[0-9.]+$ || "$extra" == *:* ]]; then
      san+=",IP:$extra"
    else
      san+=",DNS:$extra"
    fi
  done
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" \
    -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem \
    -CAcreateserial -days 825 -out "$name.pem" \
    -extfile <(printf 'subjectAltName=%s\n' "$san") 2>/dev/null
  rm -f "$name.csr"
}
issue aggregator ghostpeer-aggregator aggregator ghostpeer_aggregator "$@"
issue agent ghostpeer-agent
issue cli ghostpeer-cli
[[ -f token ]] || openssl rand -hex 32 >token
echo "make-certs: CA, aggregator, agent and cli certificates and a token in $out"
