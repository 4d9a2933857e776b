#!/usr/bin/env bash
# Drives the real `thinggatectl registry` and `thinggatectl policy test` commands on a RocksDB
# data dir with certificates from `thinggatectl pki`: registration and status rules, policy
# versions, attachments, list/describe JSON (parsed by python3), the example registry file
# (configs/registry.example.json; a second apply changes nothing), policy test decisions in text
# and JSON, and errors: exit 1 naming the problem, exit 2 for wrong usage.
# Usage: thinggatectl_registry_test.sh THINGGATECTL SOURCE_DIR
set -euo pipefail
ctl=$1
src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
check() { # check "description" command...
    local what=$1; shift
    if "$@" >"$dir/out" 2>&1; then echo "ok   $what"; else echo "FAIL $what"; cat "$dir/out"; failures=$((failures + 1)); fi
}
refuse() { # refuse EXPECTED_EXIT "description" PATTERN command...: exit code and message
    local want=$1 what=$2 pattern=$3; shift 3
    set +e; "$@" >"$dir/out" 2>&1; local got=$?; set -e
    if [ "$got" = "$want" ] && grep -q -- "$pattern" "$dir/out"; then echo "ok   $what"
    else echo "FAIL $what (exit $got, wanted $want and '$pattern')"; cat "$dir/out"; failures=$((failures + 1)); fi
}
output_has() { # output_has "description" PATTERN command...: succeeds and prints PATTERN
    local what=$1 pattern=$2; shift 2
    if "$@" >"$dir/out" 2>&1 && grep -q -- "$pattern" "$dir/out"; then echo "ok   $what"
    else echo "FAIL $what (wanted '$pattern')"; cat "$dir/out"; failures=$((failures + 1)); fi
}

data=$dir/data
reg() { "$ctl" registry "$@" --data-dir "$data"; }

# Certificates: a CA with two devices, and a stranger.
check "pki ca" "$ctl" pki ca --out "$dir/ca" --cn "Registry Test CA"
check "pki device sensor-1" "$ctl" pki device --ca "$dir/ca" --thing sensor-1 --out "$dir/dev"
check "pki device sensor-2" "$ctl" pki device --ca "$dir/ca" --thing sensor-2 --out "$dir/dev"
check "pki stranger CA" "$ctl" pki ca --out "$dir/other" --cn "Other CA"
check "pki stranger device" "$ctl" pki device --ca "$dir/other" --thing stranger --out "$dir/other"

refuse 1 "a missing data dir is not created without --create" "no such directory" reg list-cas
check "the missing data dir was not created" test ! -e "$data"
check "register-ca --create" bash -c "'$ctl' registry register-ca --data-dir '$data' --create --pem-file '$dir/ca/ca.pem' > '$dir/ca.id'"
ca_id=$(cat "$dir/ca.id")
check "the CA id is 64 hex digits" bash -c "[[ '$ca_id' =~ ^[0-9a-f]{64}$ ]]"
refuse 1 "registering it again: ResourceAlreadyExistsException" "ResourceAlreadyExistsException" reg register-ca --pem-file "$dir/ca/ca.pem"
refuse 1 "a device certificate is not a CA" "not a CA certificate" reg register-ca --pem-file "$dir/dev/sensor-1.pem"
refuse 1 "a certificate of an unregistered CA is refused" "not issued by a registered CA" reg register-certificate --pem-file "$dir/other/stranger.pem"

check "register-certificate --set-as-active" bash -c "'$ctl' registry register-certificate --data-dir '$data' --pem-file '$dir/dev/sensor-1.pem' --set-as-active > '$dir/c1.id'"
c1=$(cat "$dir/c1.id")
check "register-certificate (default INACTIVE)" bash -c "'$ctl' registry register-certificate --data-dir '$data' --pem-file '$dir/dev/sensor-2.pem' > '$dir/c2.id'"
c2=$(cat "$dir/c2.id")
output_has "describe-certificate: ACTIVE, its CA" "\"caCertificateId\": \"$ca_id\"" reg describe-certificate --id "$c1"
output_has "the second one is INACTIVE" '"status": "INACTIVE"' reg describe-certificate --id "$c2"

check "create-thing-type" reg create-thing-type --name sensor --description "a sensor"
check "create-thing with attributes" reg create-thing --name sensor-1 --type sensor --attribute site=north --attribute rev=B
check "create-thing sensor-2" reg create-thing --name sensor-2
check "create-thing-group plant" reg create-thing-group --name plant
check "create-thing-group hall (child)" reg create-thing-group --name hall --parent plant
check "add-thing-to-group" reg add-thing-to-group --thing sensor-1 --group hall
cat >"$dir/connect.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:*:*:topic/things/${iot:Connection.Thing.ThingName}/*"}]}
JSON
cat >"$dir/plant.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Sid":"Site","Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/plant/${iot:Connection.Thing.Attributes[site]}/*"},
 {"Sid":"NoCommands","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/plant/*/commands/*"}]}
JSON
check "create-policy from a file" reg create-policy --name connect --document-file "$dir/connect.json"
check "create-policy plant" reg create-policy --name plant --document-file "$dir/plant.json"
refuse 1 "a malformed policy names the statement" 'MalformedPolicyException: policy "bad": Statement\[0\]' reg create-policy --name bad --document '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"iot:*","Resource":"*"}]}'
check "attach-policy to the certificate" reg attach-policy --policy connect --certificate "$c1"
check "attach-policy to the group" reg attach-policy --policy plant --group plant
check "attach-thing-principal" reg attach-thing-principal --thing sensor-1 --certificate "$c1"
refuse 2 "attach-policy needs a target" "exactly one of --certificate and --group" reg attach-policy --policy connect

# Status rules.
refuse 1 "an ACTIVE certificate cannot be deleted" "DeleteConflictException.*ACTIVE" reg delete-certificate --id "$c1"
check "update-certificate REVOKED" reg update-certificate --id "$c2" --status REVOKED
refuse 1 "REVOKED is final" "CertificateStateException.*REVOKED is final" reg update-certificate --id "$c2" --status ACTIVE
check "a REVOKED unattached certificate can be deleted" reg delete-certificate --id "$c2"
refuse 1 "deleting it twice: not found" "ResourceNotFoundException" reg delete-certificate --id "$c2"

# Policy versions.
for v in 2 3 4 5; do
    output_has "create-policy-version $v" "^$v\$" reg create-policy-version --name plant --document-file "$dir/plant.json"
done
refuse 1 "a sixth version is refused" "VersionsLimitExceededException" reg create-policy-version --name plant --document-file "$dir/plant.json"
refuse 1 "the default version cannot be deleted" "DeleteConflictException.*default version" reg delete-policy-version --name plant --version 1
check "set-default-policy-version 3" reg set-default-policy-version --name plant --version 3
check "delete-policy-version 1" reg delete-policy-version --name plant --version 1
output_has "describe-policy shows the default" '"defaultVersionId": "3"' reg describe-policy --name plant
refuse 2 "a bad --version is a usage error" "--version" reg describe-policy --name plant --version x

check "list/describe JSON" python3 - "$ctl" "$data" "$c1" <<'PY'
import json, subprocess, sys
ctl, data, c1 = sys.argv[1:]
def run(*args):
    return json.loads(subprocess.run([ctl, "registry", *args, "--data-dir", data], check=True, capture_output=True, text=True).stdout)
cas = run("list-cas")["certificates"]
assert len(cas) == 1 and cas[0]["status"] == "ACTIVE" and "certificatePem" not in cas[0], cas
certs = run("list-certificates")["certificates"]
assert [c["certificateId"] for c in certs] == [c1], certs
assert certs[0]["policies"] == ["connect"] and certs[0]["things"] == [{"thingName": "sensor-1", "exclusive": False}]
things = {t["thingName"]: t for t in run("list-things")["things"]}
assert things["sensor-1"]["attributes"] == {"rev": "B", "site": "north"}, things
assert things["sensor-1"]["thingGroups"] == ["hall"] and things["sensor-1"]["principals"][0]["certificateId"] == c1
assert [t["thingName"] for t in run("list-things", "--group", "hall")["things"]] == ["sensor-1"]
groups = {g["thingGroupName"]: g for g in run("list-thing-groups")["thingGroups"]}
assert groups["hall"]["parentGroupName"] == "plant" and groups["plant"]["policies"] == ["plant"]
pols = {p["policyName"]: p for p in run("list-policies")["policies"]}
assert [v["versionId"] for v in pols["plant"]["versions"]] == ["2", "3", "4", "5"]
assert pols["plant"]["targets"] == [{"thingGroupName": "plant"}]
d = run("describe-certificate", "--id", c1)
assert d["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
assert run("list-thing-types")["thingTypes"] == [{"thingTypeName": "sensor", "description": "a sensor"}]
PY

# policy test: the decisions and their explanation.
pt() { "$ctl" policy test --data-dir "$data" "$@"; }
output_has "policy test: Connect as its thing is ALLOWED" "^ALLOWED for iot:Connect" pt --certificate "$c1" --client-id sensor-1 --action iot:Connect --resource client/sensor-1
output_has "policy test: another client id binds no thing" "^IMPLICIT_DENY for iot:Connect" pt --certificate "$c1" --client-id intruder --action iot:Connect --resource client/intruder
output_has "policy test: says why no thing is bound" "no thing is bound" pt --certificate "$c1" --client-id intruder --action iot:Connect --resource client/intruder
output_has "policy test: group policy through the parent group" "^ALLOWED for iot:Publish on arn:aws:iot:local:000000000000:topic/plant/north/t" pt --certificate "$c1" --client-id sensor-1 --action iot:Publish --resource topic/plant/north/t
output_has "policy test: the group's policy is shown with its path" 'policy "plant" version 3 via thing group plant' pt --certificate "$c1" --client-id sensor-1 --action iot:Publish --resource topic/plant/north/t
output_has "policy test: explicit deny names the statement" 'decided by: policy "plant" version 3 Statement\[1\] (Sid "NoCommands") Deny' pt --certificate "$c1" --client-id sensor-1 --action iot:Publish --resource topic/plant/north/commands/reboot
output_has "policy test: variables are shown" 'Attributes\[site\]} = "north"' pt --thing sensor-1 --action iot:Publish --resource topic/plant/south/t
output_has "policy test --thing finds the certificate" "certificate: $c1 (ACTIVE)" pt --thing sensor-1 --action iot:Receive --resource topic/things/sensor-1/x
check "policy test --json: AWS TestAuthorization shape" bash -c "'$ctl' policy test --data-dir '$data' --certificate '$c1' --client-id sensor-1 --action iot:Publish --resource arn:aws:iot:local:000000000000:topic/plant/north/commands/x --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d[\"authResults\"][0]
assert r[\"authDecision\"] == \"EXPLICIT_DENY\", r
assert r[\"authInfo\"] == {\"actionType\": \"PUBLISH\", \"resources\": [\"arn:aws:iot:local:000000000000:topic/plant/north/commands/x\"]}
assert [p[\"policyName\"] for p in r[\"denied\"][\"explicitDeny\"][\"policies\"]] == [\"plant\"]
assert r[\"denied\"][\"explicitDeny\"][\"policies\"][0][\"policyArn\"] == \"arn:aws:iot:local:000000000000:policy/plant\"
t = d[\"thinggate\"]
assert t[\"thingName\"] == \"sensor-1\" and t[\"thingGroups\"] == [\"hall\", \"plant\"], t
assert t[\"decidedBy\"][\"sid\"] == \"NoCommands\"
assert t[\"variables\"][\"iot:Connection.Thing.Attributes[site]\"] == \"north\"
'"
check "update-certificate INACTIVE" reg update-certificate --id "$c1" --status INACTIVE
output_has "policy test warns about an inactive certificate" "refuses it at the TLS handshake" pt --certificate "$c1" --client-id sensor-1 --action iot:Connect --resource client/sensor-1
refuse 1 "policy test: unknown certificate" "ResourceNotFoundException: certificate" pt --certificate "$(printf '%064d' 0)" --client-id x --action iot:Connect --resource client/x
refuse 2 "policy test: needs a principal" "--certificate or --thing" pt --client-id x --action iot:Connect --resource client/x
refuse 2 "policy test: a bad resource" "must be an ARN" pt --thing sensor-1 --action iot:Connect --resource nothing
refuse 2 "policy test: a bad action" "must be iot:<Name>" pt --thing sensor-1 --action Connect --resource client/x

# Deletion rules with attachments.
refuse 1 "an attached certificate cannot be deleted" "DeleteConflictException.*policy \"connect\"" reg delete-certificate --id "$c1"
refuse 1 "an attached policy cannot be deleted" "DeleteConflictException" reg delete-policy --name connect
check "detach-policy" reg detach-policy --policy connect --certificate "$c1"
check "detach-thing-principal" reg detach-thing-principal --thing sensor-1 --certificate "$c1"
check "now the certificate can be deleted" reg delete-certificate --id "$c1"
check "remove-thing-from-group" reg remove-thing-from-group --thing sensor-1 --group hall
check "delete-thing" reg delete-thing --name sensor-1
refuse 1 "a parent group with children cannot be deleted" "child group" reg delete-thing-group --name plant

# The example registry file, with the dev PKI next to it.
ex=$dir/example
mkdir "$ex"
check "pki dev for the example" "$ctl" pki dev --dir "$ex"
cp "$src/configs/registry.example.json" "$ex/registry.json"
check "apply the example file" bash -c "'$ctl' registry apply '$ex/registry.json' --data-dir '$ex/data' --create > '$dir/apply1'"
check "the first apply made changes" grep -q "12 change(s)" "$dir/apply1"
output_has "a second apply changes nothing" "0 change(s)" "$ctl" registry apply "$ex/registry.json" --data-dir "$ex/data"
output_has "policy test on the example: demo-thing may publish to its site" "^ALLOWED" "$ctl" policy test --data-dir "$ex/data" --thing demo-thing --action iot:Publish --resource topic/plant/hall-1/temp
sed -i 's/"groups": \["hall-1"\]/"groups": ["hall-1"], "colour": "red"/' "$ex/registry.json"
refuse 1 "a bad registry file names file, entry and field" "registry.json: things\[0\] (\"demo-thing\"): unknown field \"colour\"" "$ctl" registry apply "$ex/registry.json" --data-dir "$ex/data"
refuse 1 "a missing registry file" "cannot open" "$ctl" registry apply "$ex/none.json" --data-dir "$ex/data"

refuse 2 "registry without a command" "usage: thinggatectl registry" "$ctl" registry
refuse 2 "an unknown registry command" "unknown command 'frobnicate'" "$ctl" registry frobnicate
refuse 2 "a missing --data-dir names the option" "--data-dir" "$ctl" registry list-cas
refuse 2 "a bad --status" "--status must be" reg update-certificate --id "$(printf '%064d' 0)" --status ON
refuse 2 "a bad --attribute" "NAME=VALUE" reg create-thing --name x --attribute novalue
check "registry --help lists the commands" bash -c "'$ctl' registry --help | grep -q attach-thing-principal"
check "registry apply --help" bash -c "'$ctl' registry apply --help | grep -q -- --data-dir"
check "policy test --help" bash -c "'$ctl' policy test --help | grep -q -- --resource"
check "thinggatectl --help lists registry and policy" bash -c "'$ctl' --help | grep -q '^  registry ' && '$ctl' --help | grep -q '^  policy '"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "thinggatectl registry: all checks passed"
