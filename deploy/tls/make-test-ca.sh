#!/usr/bin/env bash
# Makes a TEST public-key infrastructure with openssl, for trying TLS and mutual TLS between the
# daemons (and for the integration tests). Not for production: the CA key sits next to the certs.
#
#   deploy/tls/make-test-ca.sh DIR [HOST_OR_IP ...]      (default hosts: localhost 127.0.0.1)
#
# Writes into DIR (EC P-256 keys, SHA-256, keys mode 600):
#   ca.pem ca.key                  the test CA (10 years)      → --tls-client-ca, --tls-ca, --prefill-tls-ca, --decode-tls-ca
#   server.pem server.key          serverAuth, SAN = the hosts → --tls-cert/--tls-key of pd-prefill, pd-decode, pd-gateway
#   client.pem client.key          clientAuth                  → --tls-cert/--tls-key of clients, --prefill-tls-*, --decode-tls-*
#   expired-server.pem/.key        like server.pem, valid only in 2020 (tests: refused)
#   expired-client.pem/.key        like client.pem, valid only in 2020 (tests: refused)
#   other-ca.pem other-ca.key      an unrelated CA (tests: wrong CA)
#   other-server.pem/.key          server cert with the right SAN from the other CA
#   other-client.pem/.key          client cert from the other CA
# Every host that serves needs its name or address in the SAN: clients check the address they dial.
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit $(( $# < 1 ))
fi
command -v openssl >/dev/null || { echo "make-test-ca: openssl is not installed (apt-get install openssl)" >&2; exit 1; }
out=$1; shift
hosts=("$@"); [ ${#hosts[@]} -gt 0 ] || hosts=(localhost 127.0.0.1)
san=""
for h in "${hosts[@]}"; do
  if [[ $h =~ ^[0-9]+(\.[0-9]+){3}$ || $h == *:* ]]; then san+="${san:+,}IP:$h"; else san+="${san:+,}DNS:$h"; fi
done
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = any_name
unique_subject = no
[ any_name ]
commonName = supplied
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
CNF

# new_ca NAME SUBJECT
new_ca() {
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 3650 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$out/$1.key" -out "$out/$1.pem" 2>/dev/null
}

# new_leaf NAME CA EXTENSIONS CN [openssl-ca validity args...]
new_leaf() {
  local name=$1 ca=$2 ext=$3 cn=$4; shift 4
  : >"$tmp/index.txt"; openssl rand -hex 16 >"$tmp/serial"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj "/CN=$cn" \
    -keyout "$out/$name.key" -out "$tmp/$name.csr" 2>/dev/null
  openssl ca -batch -notext -config "$tmp/ca.cnf" -cert "$out/$ca.pem" -keyfile "$out/$ca.key" -extensions "$ext" \
    -in "$tmp/$name.csr" -out "$out/$name.pem" "$@" 2>"$tmp/ca.log" || { cat "$tmp/ca.log" >&2; exit 1; }
}

new_ca ca "LatentServe test CA"
new_ca other-ca "Unrelated test CA"
new_leaf server ca server_ext latentserve-server -days 825
new_leaf client ca client_ext latentserve-client -days 825
new_leaf expired-server ca server_ext latentserve-expired-server -startdate 20200101000000Z -enddate 20200102000000Z
new_leaf expired-client ca client_ext latentserve-expired-client -startdate 20200101000000Z -enddate 20200102000000Z
new_leaf other-server other-ca server_ext latentserve-server -days 825
new_leaf other-client other-ca client_ext latentserve-client -days 825
chmod 600 "$out"/*.key
echo "make-test-ca: $out: CA, server ($san), client, expired and other-CA certificates"
