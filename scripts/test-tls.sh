#!/usr/bin/env bash
# Makes, in the folder $1, a test CA (ca.crt) and a server certificate it
# signed for 127.0.0.1, ::1 and localhost (server.crt, server.key), for test
# servers that clients verify as a user's would (REQUESTS_CA_BUNDLE,
# RSVAULT_CA_FILE, NODE_EXTRA_CA_CERTS).
set -euo pipefail
cd "$1"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 30 -subj "/CN=rsvault test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" "basicConstraints=CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" "authorityKeyIdentifier=keyid" > ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 \
  -extfile ext 2>/dev/null
chmod 600 ca.key server.key
