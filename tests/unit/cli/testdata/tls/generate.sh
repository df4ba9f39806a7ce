#!/bin/sh
# Test-only TLS material for cli_test (never use it for anything else):
# a CA, a server certificate for "aggregator.test" and 127.0.0.1, a client
# certificate for mutual TLS, and an unrelated CA the server does not chain
# to. Valid for 100 years so the tests do not rot. Re-run to regenerate.
set -eu
cd "$(dirname "$0")"
days=36500
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

openssl req -x509 $ec -days $days -subj "/CN=ghostpeer test CA" \
  -keyout ca.key -out ca.pem
openssl req -x509 $ec -days $days -subj "/CN=unrelated test CA" \
  -keyout other-ca.key -out other-ca.pem

openssl req $ec -subj "/CN=aggregator.test" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:aggregator.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days $days -extfile server.ext -out server.pem

openssl req $ec -subj "/CN=ghostpeer cli" -keyout client.key -out client.csr
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days $days -extfile client.ext -out client.pem

rm -f server.csr client.csr server.ext client.ext ca.srl ca.key other-ca.key
