#!/usr/bin/env bash
# Drives the real `thinggatectl pki` commands and checks their output with the openssl CLI:
# chains verify, purposes and SANs are right, keys are 0600, nothing is overwritten without
# --force, and usage errors exit 2 naming the option. Usage: thinggatectl_pki_test.sh THINGGATECTL
set -euo pipefail
ctl=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
check() { # check "description" command...
    local what=$1; shift
    if "$@" >"$dir/out" 2>&1; then echo "ok   $what"; else echo "FAIL $what"; cat "$dir/out"; failures=$((failures + 1)); fi
}
refuse() { # refuse EXPECTED_EXIT "description" command...
    local want=$1 what=$2; shift 2
    set +e; "$@" >"$dir/out" 2>&1; local got=$?; set -e
    if [ "$got" = "$want" ]; then echo "ok   $what"; else echo "FAIL $what (exit $got, wanted $want)"; cat "$dir/out"; failures=$((failures + 1)); fi
}
mode() { stat -c %a "$1"; }

check "pki ca" "$ctl" pki ca --out "$dir/ca" --cn "Test CA"
check "pki server with DNS and IP SANs" "$ctl" pki server --ca "$dir/ca" --out "$dir/srv" --dns localhost --ip 127.0.0.1
check "pki device" "$ctl" pki device --ca "$dir/ca" --thing sensor-1 --out "$dir/dev"
check "pki codesign" "$ctl" pki codesign --ca "$dir/ca" --out "$dir/sign"
check "pki dev" "$ctl" pki dev --dir "$dir/data" --thing demo-thing

check "CA key is 0600" test "$(mode "$dir/ca/ca.key")" = 600
key=$(ls "$dir"/dev/*.key | head -1); cert=$(ls "$dir"/dev/*.pem | head -1)
check "device key is 0600" test "$(mode "$key")" = 600
check "device certificate chains to the CA" openssl verify -CAfile "$dir/ca/ca.pem" "$cert"
check "device certificate is for TLS clients" openssl verify -purpose sslclient -CAfile "$dir/ca/ca.pem" "$cert"
check "device CN is the thing name" bash -c "openssl x509 -in '$cert' -noout -subject | grep -q 'CN *= *sensor-1'"
srv=$(ls "$dir"/srv/*.pem | head -1)
check "server certificate is for TLS servers" openssl verify -purpose sslserver -CAfile "$dir/ca/ca.pem" "$srv"
check "server certificate names localhost" bash -c "openssl x509 -in '$srv' -noout -checkhost localhost | grep -q 'does match'"
check "server certificate does not name example.com" bash -c "openssl x509 -in '$srv' -noout -checkhost example.com | grep -q 'does NOT match'"
check "server certificate names 127.0.0.1" bash -c "openssl x509 -in '$srv' -noout -checkip 127.0.0.1 | grep -q 'does match'"
sign=$(ls "$dir"/sign/*.pem | head -1)
check "code-signing certificate has EKU codeSigning" bash -c "openssl x509 -in '$sign' -noout -ext extendedKeyUsage | grep -q 'Code Signing'"
check "code-signing certificate has KU digitalSignature" bash -c "openssl x509 -in '$sign' -noout -ext keyUsage | grep -q 'Digital Signature'"
check "dev PKI server certificate chains" openssl verify -CAfile "$dir/data/pki/ca.pem" "$dir/data/pki/server.pem"
check "pki show prints the certificate id" bash -c "'$ctl' pki show '$cert' | grep -Eq '[0-9a-f]{64}'"

refuse 1 "an existing key is not overwritten" "$ctl" pki ca --out "$dir/ca"
check "--force overwrites" "$ctl" pki ca --out "$dir/ca" --force
refuse 2 "a bad --key value is a usage error" "$ctl" pki ca --out "$dir/ca2" --key ec-p521
refuse 2 "an unknown option is a usage error" "$ctl" pki ca --out "$dir/ca3" --bogus

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "thinggatectl pki: all checks passed"
