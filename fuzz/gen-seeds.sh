#!/bin/sh
# Regenerates the seed corpora in corpus/<target>/seed-* with OpenSSL (3.0 or later).
# Keys are throwaway: they go to a temporary directory that is removed at the end.
# Run from anywhere: sh fuzz/gen-seeds.sh
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/parse_csr corpus/parse_certificate corpus/pem_decode corpus/distinguished_name \
    corpus/subject_alt_name corpus/extensions corpus/cms corpus/cmp corpus/crmf \
    corpus/parse_crl corpus/ocsp_request corpus/ocsp_get corpus/est_body corpus/text_fields \
    corpus/rest_json corpus/scep_message corpus/acme_dns
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

csr() { # seed name, then the key and subject options for `openssl req`
    name=$1; shift
    openssl req -new -nodes -keyout "$tmp/$name.key" -outform DER \
        -out "corpus/parse_csr/seed-$name.der" "$@"
}
csr p256 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/C=US/O=Example/CN=p256.example" \
    -addext "subjectAltName=DNS:p256.example,IP:192.0.2.1"
csr rsa2048 -newkey rsa:2048 -subj "/O=Example/OU=Ops+OU=Web/CN=rsa.example" \
    -addext "subjectAltName=DNS:rsa.example,DNS:*.rsa.example,email:ops@example.com"
csr ed25519 -newkey ed25519 -subj "/CN=ed25519.example" \
    -addext "subjectAltName=DNS:ed25519.example,IP:2001:db8::1,URI:https://ed25519.example/"
# A challengePassword attribute next to the extension request, as SCEP clients send.
cat > "$tmp/scep.cnf" <<'CNF'
[req]
prompt = no
distinguished_name = dn
attributes = attrs
req_extensions = ext
[dn]
CN = scep.example
[attrs]
challengePassword = s3cret
[ext]
subjectAltName = DNS:scep.example
CNF
csr challenge -newkey ec -pkeyopt ec_paramgen_curve:P-256 -config "$tmp/scep.cnf"

# A self-signed P-256 certificate with SANs, as DER.
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$tmp/ca.key" \
    -subj "/C=US/O=Example/CN=Example Root" -days 365 -set_serial 0x1234abcd \
    -addext "subjectAltName=DNS:root.example,IP:192.0.2.2" \
    -outform DER -out corpus/parse_certificate/seed-p256.der

# PEM: one request, one certificate, and a bundle with text around and between blocks.
openssl req -inform DER -in corpus/parse_csr/seed-p256.der -out corpus/pem_decode/seed-csr.pem
openssl x509 -inform DER -in corpus/parse_certificate/seed-p256.der -out corpus/pem_decode/seed-cert.pem
{
    echo "Subject: CN=Example Root"
    cat corpus/pem_decode/seed-cert.pem
    echo "between"
    sed "s/\$/\r/" corpus/pem_decode/seed-csr.pem
    cat corpus/pem_decode/seed-cert.pem
} > corpus/pem_decode/seed-bundle.pem

# Names (DER, built with asn1parse -genconf) and one name in text form.
gen() { # target, name, then the genconf text on stdin
    cat > "$tmp/$2.cnf"
    openssl asn1parse -genconf "$tmp/$2.cnf" -noout -out "corpus/$1/seed-$2.der"
}
gen distinguished_name multi <<'CNF'
asn1 = SEQUENCE:name
[name]
c = SET:c
o = SET:o
ou = SET:ou
cn = SET:cn
[c]
a = SEQUENCE:c_atv
[c_atv]
t = OID:countryName
v = PRINTABLESTRING:US
[o]
a = SEQUENCE:o_atv
[o_atv]
t = OID:organizationName
v = UTF8:Example, Inc.
[ou]
a = SEQUENCE:ou1
b = SEQUENCE:ou2
[ou1]
t = OID:organizationalUnitName
v = UTF8:Ops
[ou2]
t = OID:organizationalUnitName
v = UTF8:Web
[cn]
a = SEQUENCE:cn_atv
[cn_atv]
t = OID:commonName
v = UTF8:demo+1=x;y
CNF
gen distinguished_name other-types <<'CNF'
asn1 = SEQUENCE:name
[name]
dc = SET:dc
e = SET:e
x = SET:x
[dc]
a = SEQUENCE:dc_atv
[dc_atv]
t = OID:domainComponent
v = IA5STRING:example
[e]
a = SEQUENCE:e_atv
[e_atv]
t = OID:emailAddress
v = IA5STRING:ops@example.com
[x]
a = SEQUENCE:x_atv
[x_atv]
t = OID:1.3.6.1.4.1.99999.1
v = INTEGER:42
CNF
printf 'C=US,O=Example\\, Inc.,OU=Ops+OU=Web,CN=\\#demo\\20,1.3.6.1.4.1.99999.1=#02012a' \
    > corpus/distinguished_name/seed-text.txt

gen subject_alt_name mixed <<'CNF'
asn1 = SEQUENCE:sans
[sans]
dns = IMPLICIT:2,IA5STRING:example.com
wild = IMPLICIT:2,IA5STRING:*.example.com
ip4 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:C0000201
ip6 = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:20010DB8000000000000000000000001
email = IMPLICIT:1,IA5STRING:ops@example.com
uri = IMPLICIT:6,IA5STRING:https://example.com/
CNF
gen subject_alt_name dns <<'CNF'
asn1 = SEQUENCE:sans
[sans]
dns = IMPLICIT:2,IA5STRING:a.example
CNF

# Extension values for the `extensions` target: keyUsage, extKeyUsage, basicConstraints.
gen extensions key-usage <<'CNF'
asn1 = FORMAT:BITLIST,BITSTRING:0,2,5,8
CNF
gen extensions eku <<'CNF'
asn1 = SEQUENCE:eku
[eku]
a = OID:serverAuth
b = OID:clientAuth
c = OID:1.3.6.1.4.1.99999.3.1
CNF
gen extensions basic-constraints <<'CNF'
asn1 = SEQUENCE:bc
[bc]
ca = BOOLEAN:TRUE
len = INTEGER:2
CNF

# CMS as SCEP clients send it: SignedData and EnvelopedData, DER and BER (`-stream -indef`
# writes indefinite lengths and the content in OCTET STRING chunks).
cms_seeds() {
    openssl req -x509 -nodes -newkey rsa:2048 -keyout "$tmp/scep.key" -subj "/CN=scep client" \
        -days 365 -set_serial 0x0abc -out "$tmp/scep.pem" 2>/dev/null
    printf 'a SCEP pkcsPKIEnvelope' > "$tmp/scep.txt"
    sign() { # seed name, then extra options
        name=$1; shift
        openssl cms -sign -nodetach -binary -nosmimecap -in "$tmp/scep.txt" \
            -signer "$tmp/scep.pem" -inkey "$tmp/scep.key" -outform DER \
            -out "corpus/cms/seed-$name.der" "$@"
    }
    sign signed -md sha256
    sign signed-ber -md sha1 -nocerts -stream -indef
    openssl cms -encrypt -binary -aes128 -in "$tmp/scep.txt" -outform DER \
        -out corpus/cms/seed-enveloped.der "$tmp/scep.pem"
    openssl cms -encrypt -binary -des3 -stream -indef -in "$tmp/scep.txt" -outform DER \
        -out corpus/cms/seed-enveloped-ber.der "$tmp/scep.pem"
}
cms_seeds

# CMP requests as `openssl cmp` writes them (`-reqout`; no server listens on port 1, so the
# client fails after writing): ir with PBM and implicitConfirm, cr and rr with signature
# protection (a CA-issued client certificate in extraCerts), p10cr, genm.
cmp_seeds() {
    k="$tmp/cmp-new.key"; ca="$tmp/cmp-ca"; cl="$tmp/cmp-client"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$k"
    openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$ca.key" \
        -subj "/CN=Test CA" -days 365 -out "$ca.crt" 2>/dev/null
    openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$cl.key" \
        -subj "/CN=client" -days 365 -CA "$ca.crt" -CAkey "$ca.key" -out "$cl.crt" 2>/dev/null
    openssl req -new -key "$k" -subj "/CN=dev" -out "$tmp/cmp.csr"
    req() { # seed name, command, then options
        name=$1; cmd=$2; shift 2
        openssl cmp -cmd "$cmd" -server 127.0.0.1:1/pkix/ -reqout "corpus/cmp/seed-$name.der" \
            "$@" >/dev/null 2>&1 || true
    }
    mac="-ref 1234 -secret pass:test -recipient /CN=CA"
    # shellcheck disable=SC2086
    req ir ir $mac -newkey "$k" -subject /CN=dev -certout "$tmp/o.crt" -implicit_confirm
    req cr cr -cert "$cl.crt" -key "$cl.key" -newkey "$k" -subject /CN=dev -certout "$tmp/o.crt"
    # shellcheck disable=SC2086
    req p10cr p10cr $mac -csr "$tmp/cmp.csr" -certout "$tmp/o.crt"
    req rr rr -cert "$cl.crt" -key "$cl.key" -oldcert "$cl.crt" -revreason 1
    # shellcheck disable=SC2086
    req genm genm $mac -infotype signKeyPairTypes
}
cmp_seeds

# CRMF requests: the CertReqMsg of the ir and cr seeds (PKIMessage → body [0]/[2] →
# CertReqMessages → the first CertReqMsg), and a PKCS#10 request.
crmf_seeds() {
    for name in ir cr; do
        python3 - "corpus/cmp/seed-$name.der" "corpus/crmf/seed-$name.der" <<'PY'
import sys
def tlv(b, i):
    n = b[i + 1]; h = 2
    if n & 0x80:
        k = n & 0x7f; n = int.from_bytes(b[i + 2:i + 2 + k], 'big'); h += k
    return i + h, i + h + n          # content start, end
d = open(sys.argv[1], 'rb').read()
c, _ = tlv(d, 0)                     # PKIMessage
_, c = tlv(d, c)                     # skip the header
c, _ = tlv(d, c)                     # body [0] / [2]
c, _ = tlv(d, c)                     # CertReqMessages
_, e = tlv(d, c)                     # the first CertReqMsg
open(sys.argv[2], 'wb').write(d[c:e])
PY
    done
    cp "$tmp/cmp.csr" corpus/crmf/seed-pkcs10.pem
}
crmf_seeds

# A small CA with `openssl ca`: a leaf certificate, then a CRL (empty, then with the leaf
# revoked), OCSP requests for the leaf (with and without a nonce, and for two serials), and
# the same requests in the GET form (URL-encoded base64).
revocation_seeds() {
    d="$tmp/ca"; mkdir -p "$d/new"; : > "$d/index.txt"; echo 1000 > "$d/crlnumber"
    cat > "$d/ca.cnf" <<CNF
[ca]
default_ca = fuzz_ca
[fuzz_ca]
dir = $d
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
crlnumber = $d/crlnumber
certificate = $d/ca.crt
private_key = $d/ca.key
default_md = sha256
default_days = 30
default_crl_days = 7
policy = any
[any]
commonName = supplied
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF
    openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$d/ca.key" \
        -subj "/CN=Fuzz CA" -days 365 -out "$d/ca.crt" 2>/dev/null
    echo 01 > "$d/serial"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$d/leaf.key" \
        -subj "/CN=leaf.example" -out "$d/leaf.csr" 2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -in "$d/leaf.csr" -out "$d/leaf.crt" \
        -notext 2>/dev/null
    openssl x509 -in "$d/leaf.crt" -outform DER -out corpus/parse_certificate/seed-leaf.der
    openssl ca -batch -config "$d/ca.cnf" -gencrl -out "$d/empty.crl" 2>/dev/null
    openssl crl -in "$d/empty.crl" -outform DER -out corpus/parse_crl/seed-empty.der
    openssl ca -batch -config "$d/ca.cnf" -revoke "$d/leaf.crt" -crl_reason keyCompromise \
        2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -gencrl -crlexts crl_ext -out "$d/one.crl" 2>/dev/null
    openssl crl -in "$d/one.crl" -outform DER -out corpus/parse_crl/seed-revoked.der
    openssl ocsp -issuer "$d/ca.crt" -cert "$d/leaf.crt" -no_nonce \
        -reqout corpus/ocsp_request/seed-plain.der
    openssl ocsp -sha256 -issuer "$d/ca.crt" -cert "$d/leaf.crt" \
        -reqout corpus/ocsp_request/seed-nonce.der
    openssl ocsp -issuer "$d/ca.crt" -serial 0x01 -serial 0x7fffffffffffffffff -no_nonce \
        -reqout corpus/ocsp_request/seed-two.der
    for name in plain nonce two; do
        openssl base64 -A -in "corpus/ocsp_request/seed-$name.der" \
            | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g' > "corpus/ocsp_get/seed-$name.txt"
    done
    # The same request with '/' left as it is (a path of several segments) and unescaped.
    openssl base64 -A -in corpus/ocsp_request/seed-plain.der > corpus/ocsp_get/seed-raw.txt
}
revocation_seeds

# EST: a PKCS#10 request as base64 with line breaks (RFC 7030 §4.2.1), one without, and HTTP
# Basic credentials.
openssl base64 -in corpus/parse_csr/seed-p256.der > corpus/est_body/seed-p256.b64
openssl base64 -A -in corpus/parse_csr/seed-ed25519.der > corpus/est_body/seed-ed25519.b64
printf 'Basic %s' "$(printf 'device-1:s3cret' | openssl base64 -A)" > corpus/est_body/seed-basic.txt

# Short text values: names, serials, OIDs, reasons, times, durations, roles, SANs.
i=0
for text in 'issuing-ca' 'tls-server' '42' '01:a3:ff' '0x7f00' '1.3.6.1.5.5.7.3.1' \
    'keyCompromise' '9' '2026-11-22T10:00:00Z' '20261122100000Z' '90s' '7d' 'admin,auditor' \
    'dns:www.example.com' 'ip:2001:db8::1' 'email:ops@example.com' 'uri:https://example.com/'; do
    i=$((i + 1))
    printf '%s' "$text" > "corpus/text_fields/seed-$i.txt"
done

# The REST API's JSON bodies (api.rs SubmitBody; admin_api.rs DenyBody, ExtensionBody,
# RevokeBody, TokenBody, Witnessed, and the attribute map).
json() { printf '%s' "$2" > "corpus/rest_json/seed-$1.json"; }
csr_pem=$(openssl req -inform DER -in corpus/parse_csr/seed-p256.der | awk '{printf "%s\\n", $0}')
json submit "{\"csr\":\"$csr_pem\",\"profile\":\"tls-server\",\"attributes\":{\"team\":\"ops\"}}"
json deny '{"reason":"not ours"}'
json attributes '{"team":"web","old":null}'
json ext-san '{"critical":false,"san":["dns:a.example","ip:192.0.2.1","email:x@example.com"]}'
json ext-eku '{"eku":["serverAuth","1.3.6.1.4.1.99999.1"]}'
json ext-value '{"value":"30:03:01:01:ff","critical":true}'
json ext-disabled '{"disabled":true}'
json revoke '{"reason":"keyCompromise","invalidity_date":"2026-11-22T10:00:00Z"}'
json token '{"roles":["manager"],"name":"ci","cas":["issuing-ca"],"expires_days":30}'
json checkpoints '{"checkpoints":[{"checkpoint":1,"seq":10,"hash":"00ff","at":1800000000,"signature":"abcd"}]}'

# SCEP pkiMessages encrypted to the fixed RA key in keys/ (made once with
#   openssl req -x509 -nodes -newkey rsa:2048 -keyout ra.pem -subj "/CN=signet fuzz SCEP RA" \
#       -days 36500 -set_serial 0x5ce9 -outform DER -out keys/scep-ra.crt.der
#   openssl pkcs8 -topk8 -nocrypt -in ra.pem -outform DER -out keys/scep-ra.key.der
# ) are built with signet-x509's own CMS writer, by a test of the corpus replay:
#   SIGNET_WRITE_SCEP_SEEDS=1 cargo test --release -p signet-testkit --test fuzz_corpora scep_seeds

# DNS answers as a resolver returns them during dns-01 and CAA checks: a TXT answer with a
# compressed owner name, a CAA answer (issue and iodef), a CNAME then A; and text for
# `build_query` and `IpRange`.
python3 - corpus/acme_dns <<'PY'
import struct, sys
def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
def message(qname, qtype, answers):
    out = struct.pack(">HHHHHH", 0x4242, 0x8180, 1, len(answers), 0, 0)
    out += name(qname) + struct.pack(">HH", qtype, 1)
    for owner, rtype, rdata in answers:
        out += owner + struct.pack(">HHIH", rtype, 1, 300, len(rdata)) + rdata
    return out
ptr = b"\xc0\x0c"   # the question's name
txt = b"\x2bLoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
caa = b"\x00\x05issuesignet.example"
iodef = b"\x80\x05iodefmailto:security@example.com"
a = bytes([192, 0, 2, 1])
seeds = {
    "txt": message("_acme-challenge.example.com", 16, [(ptr, 16, txt)]),
    "caa": message("example.com", 257, [(ptr, 257, caa), (ptr, 257, iodef)]),
    "cname": message("www.example.com", 1, [(ptr, 5, name("example.com")), (name("example.com"), 1, a)]),
}
for k, v in seeds.items():
    open(f"{sys.argv[1]}/seed-{k}.bin", "wb").write(v)
PY
printf '_acme-challenge.example.com' > corpus/acme_dns/seed-name.txt
printf '10.0.0.0/8' > corpus/acme_dns/seed-range.txt
