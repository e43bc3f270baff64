#!/usr/bin/env bash
# Makes a certificate authority and one peer certificate per node for Quorum's mutual TLS between peers
# (docs/security.md): `scripts/peer-certificates.sh DIR 1 2 3` writes DIR/ca.pem and DIR/ca.key (unless DIR/ca.pem
# exists, which is reused), and DIR/node-N.pem and DIR/node-N.key for each id, each certificate naming its node as
# node-N.quorum. Needs openssl. DAYS (default 365) sets how long the certificates stay valid. SERVER_NAMES adds the
# names clients reach the nodes by, for the same certificates to serve the client, HTTP and Redis ports
# (--tls-cert): SERVER_NAMES="IP:127.0.0.1,DNS:db.example.com". NOT_BEFORE and NOT_AFTER (YYYYMMDDHHMMSSZ) give the
# node certificates those dates instead, to rehearse an expiry: NOT_BEFORE=20200101000000Z NOT_AFTER=20200102000000Z.
set -euo pipefail
directory=${1:?usage: peer-certificates.sh DIR ID...}
shift
days=${DAYS:-365}
mkdir -p "$directory"
cd "$directory"
if [[ ! -f ca.pem ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
        -days "$days" -subj "/CN=Quorum peer CA" 2>/dev/null
fi
for id in "$@"; do
    name="node-$id.quorum"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "node-$id.key" -out "node-$id.csr" \
        -subj "/CN=$name" 2>/dev/null
    printf 'subjectAltName=DNS:%s%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$name" "${SERVER_NAMES:+,$SERVER_NAMES}" \
        >"node-$id.ext"
    if [[ -n "${NOT_BEFORE:-}${NOT_AFTER:-}" ]]; then
        # Only `openssl ca` takes explicit dates; it wants a small database, kept in a directory of its own.
        mkdir -p ca-dates
        touch ca-dates/index.txt
        [[ -f ca-dates/serial ]] || openssl rand -hex 16 >ca-dates/serial
        printf '[ca]\ndefault_ca=dated\n[dated]\ndatabase=ca-dates/index.txt\nnew_certs_dir=ca-dates\nserial=ca-dates/serial\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n' \
            >ca-dates/ca.cnf
        openssl ca -batch -notext -config ca-dates/ca.cnf -cert ca.pem -keyfile ca.key -in "node-$id.csr" \
            -out "node-$id.pem" -startdate "${NOT_BEFORE:?NOT_BEFORE and NOT_AFTER go together}" \
            -enddate "${NOT_AFTER:?NOT_BEFORE and NOT_AFTER go together}" -extfile "node-$id.ext" 2>/dev/null
    else
        openssl x509 -req -in "node-$id.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "node-$id.pem" \
            -days "$days" -extfile "node-$id.ext" 2>/dev/null
    fi
    rm "node-$id.csr" "node-$id.ext"
done
