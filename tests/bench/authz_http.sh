#!/usr/bin/env bash
# Prints Encrypt throughput over HTTP (wrk, 32 connections) on a key with the default policy
# (root caller) next to a key with a 10-statement policy and 100 grants: a role allowed by the
# policy's last statement, and a user allowed only by a grant (issue 4). Open mode: the callers
# are picked by the access key in the Authorization header, as the principals file maps them.
# Rounds alternate so that the machine's drift hits all three alike; medians are printed.
# A program that prints numbers, never a pass/fail test. Usage: tests/bench/authz_http.sh [secs]
set -euo pipefail
cd "$(dirname "$0")/../.."
KMSD=${KMSD_BIN:-build/kmsd}
SECS=${1:-3}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/principals.yaml" <<'YAML'
accounts:
  "111122223333":
    users:
      - {name: bob, access_key_id: AKIABOB00000EXAMPLE, secret_access_key: x}
    roles:
      - {name: app, access_key_id: ASIAAPP00000EXAMPLE, secret_access_key: x, session_name: s}
YAML
"$KMSD" --port "$P" --in-memory --principals "$WORK/principals.yaml" --log-level warn &
until curl -sf "http://127.0.0.1:$P/_kmsd/health" >/dev/null; do sleep 0.01; done

# Keys, policy and grants, made by the account's root through boto3.
read -r DEFAULT GUARDED < <(python3 - "$P" <<'PY'
import json, sys, boto3
kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                   aws_access_key_id="AKIAROOT", aws_secret_access_key="x")
acct = "arn:aws:iam::111122223333"
stmts = [{"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": f"{acct}:root"},
          "Action": ["kms:Create*", "kms:Describe*", "kms:Put*", "kms:Get*", "kms:List*",
                     "kms:Revoke*"], "Resource": "*"}]
for i in range(1, 9):
    stmts.append({"Sid": f"s{i}", "Effect": "Allow", "Principal": {"AWS": f"{acct}:user/u{i}"},
                  "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
                  "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": f"t{i}"}}})
stmts.append({"Sid": "app", "Effect": "Allow", "Principal": {"AWS": f"{acct}:role/app"},
              "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
              "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "t1"},
                            "Bool": {"aws:SecureTransport": "false"}}})
default = kms.create_key()["KeyMetadata"]["KeyId"]
guarded = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": stmts}))["KeyMetadata"]["KeyId"]
subset = {"EncryptionContextSubset": {"tenant": "t1"}}
for i in range(99):
    kms.create_grant(KeyId=guarded, GranteePrincipal=f"{acct}:user/g{i}",
                     Operations=["Encrypt", "Decrypt"], Constraints=subset)
kms.create_grant(KeyId=guarded, GranteePrincipal=f"{acct}:user/bob",
                 Operations=["Encrypt", "Decrypt"], Constraints=subset)
print(default, guarded)
PY
)

script() {  # name key access-key
    cat > "$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"KeyId":"$2","Plaintext":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHg=","EncryptionContext":{"tenant":"t1","app":"bench"}}'
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "TrentService.Encrypt"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=$3/20261123/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00"
LUA
    # One call first: a failure (403/400) would make the numbers meaningless.
    curl -sf -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.Encrypt' \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=$3/20261123/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00" \
        -d "{\"KeyId\":\"$2\",\"Plaintext\":\"eA==\",\"EncryptionContext\":{\"tenant\":\"t1\"}}" \
        "http://127.0.0.1:$P/" >/dev/null || { echo "setup call for $1 failed" >&2; exit 1; }
}
script default "$DEFAULT" AKIAROOT
script role "$GUARDED" ASIAAPP00000EXAMPLE
script grant "$GUARDED" AKIABOB00000EXAMPLE
rps() { wrk -t2 -c32 -d"${SECS}s" -s "$WORK/$1.lua" "http://127.0.0.1:$P/" | awk '/Requests\/sec/ {print int($2)}'; }
declare -A runs
for round in 1 2 3 4 5; do
    for w in default role grant; do runs[$w]+="$(rps $w) "; done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
d=$(echo "${runs[default]}" | median)
echo "Encrypt over HTTP, 32 connections, median of 5 alternating ${SECS}s rounds (requests/s):"
echo "  default policy, root caller:               $d"
for w in role grant; do
    m=$(echo "${runs[$w]}" | median)
    label=$([ $w = role ] && echo "10 statements + 100 grants, role by policy:" || echo "10 statements + 100 grants, user by grant: ")
    echo "  $label $m ($(python3 -c "print(f'{100*($m/$d-1):+.1f}%')"))"
done
