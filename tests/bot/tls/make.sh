#!/bin/sh
# Makes this folder's test certificates (run from it; they are committed, valid for 100 years):
# a CA, and two server certificates it signs: one for 127.0.0.1 and localhost, one for a
# name the tests never connect to. Test-only keys: nothing outside tests/ trusts this CA.
set -eu
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=Amends test CA" \
    -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
for name in localhost elsewhere; do
    if [ "$name" = localhost ]; then san="DNS:localhost,IP:127.0.0.1"; else san="DNS:amends-test.invalid"; fi
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=$san" "authorityKeyIdentifier=keyid" \
        "subjectKeyIdentifier=hash" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
        -extfile "$name.ext" -out "$name.pem"
    rm "$name.csr" "$name.ext"
done
rm -f ca.key ca.srl  # nothing more is signed with it
