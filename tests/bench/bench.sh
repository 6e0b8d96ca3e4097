#!/usr/bin/env bash
# Prints kmsd's numbers (design.md §8): startup time, idle RSS, and throughput of Encrypt,
# Decrypt and GenerateDataKey next to an nginx static JSON response of the same size (the HTTP
# ceiling on this machine). A program that prints numbers, never a pass/fail test.
# Needs wrk and nginx (apt-get install wrk nginx-light). Usage: tests/bench/bench.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
KMSD=${KMSD_BIN:-build/kmsd}
SECS=${1:-5}
CONNS=${BENCH_CONNECTIONS:-32}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- startup and idle memory ---
P=$(port)
t0=$(date +%s%N)
"$KMSD" --port "$P" --data-dir "$WORK/data" --log-level warn &
PID=$!
until curl -sf "http://127.0.0.1:$P/_kmsd/health" >/dev/null; do sleep 0.001; done
t1=$(date +%s%N)
echo "startup to first served request (empty db): $(( (t1 - t0) / 1000000 )) ms"
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {print $2}' /proc/$PID/status) kB"

call() {  # op json -> response
    curl -s -H 'Content-Type: application/x-amz-json-1.1' -H "X-Amz-Target: TrentService.$1" \
        -d "$2" "http://127.0.0.1:$P/"
}
KEY=$(call CreateKey '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')
PLAIN=$(python3 -c 'import base64; print(base64.b64encode(b"x"*32).decode())')
BLOB=$(call Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":\"$PLAIN\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["CiphertextBlob"])')

lua() {  # op body -> script path
    cat > "$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "TrentService.$1"
LUA
    echo "$WORK/$1.lua"
}
rps() { wrk -t2 -c"$CONNS" -d"${SECS}s" "$@" | awk '/Requests\/sec/ {print int($2)}'; }

# --- the HTTP ceiling: nginx serving a static JSON body of the Encrypt response's size ---
NP=$(port)
SIZE=$(call Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":\"$PLAIN\"}" | wc -c)
mkdir -p "$WORK/www"
head -c "$SIZE" /dev/zero | tr '\0' 'x' > "$WORK/www/r.json"
# nginx's workers run unprivileged: let them through mktemp's 0700 dir (else every answer is 403).
chmod 711 "$WORK"
chmod 755 "$WORK/www"
chmod 644 "$WORK/www/r.json"
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2; daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$NP; root $WORK/www;
  location / { default_type application/json; } } }
NGX
if command -v nginx >/dev/null; then
    nginx -c "$WORK/nginx.conf" -p "$WORK" &
    sleep 0.3
fi

echo "throughput, $CONNS connections, ${SECS}s each (requests/s):"
for op in Encrypt Decrypt GenerateDataKey; do
    case $op in
        Encrypt) body="{\"KeyId\":\"$KEY\",\"Plaintext\":\"$PLAIN\"}" ;;
        Decrypt) body="{\"CiphertextBlob\":\"$BLOB\"}" ;;
        GenerateDataKey) body="{\"KeyId\":\"$KEY\",\"KeySpec\":\"AES_256\"}" ;;
    esac
    script=$(lua "$op" "$body")
    k=$(rps -s "$script" "http://127.0.0.1:$P/")
    n=$(command -v nginx >/dev/null && rps "http://127.0.0.1:$NP/r.json" || echo 0)
    echo "  $op: kmsd $k   nginx static $SIZE-byte JSON $n   ratio $(python3 -c "print(f'{$k/max($n,1):.2f}')")"
done

# --- asymmetric keys: Sign and Verify through HTTP next to `openssl speed` of the same primitive
# on this machine (the ceiling: the private-key operation alone, both cores) ---
echo "Sign / Verify, $CONNS connections, ${SECS}s each (requests/s), and openssl speed -multi 2:"
MSG=$(python3 -c 'import base64; print(base64.b64encode(b"m"*64).decode())')
for pair in RSA_2048:RSASSA_PKCS1_V1_5_SHA_256:rsa2048 ECC_NIST_P256:ECDSA_SHA_256:ecdsap256 \
            ECC_NIST_EDWARDS25519:ED25519_SHA_512:ed25519; do
    IFS=: read -r spec alg prim <<<"$pair"
    id=$(call CreateKey "{\"KeySpec\":\"$spec\",\"KeyUsage\":\"SIGN_VERIFY\"}" |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')
    sign="{\"KeyId\":\"$id\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"$alg\"}"
    sig=$(call Sign "$sign" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Signature"])')
    verify="{\"KeyId\":\"$id\",\"Message\":\"$MSG\",\"SigningAlgorithm\":\"$alg\",\"Signature\":\"$sig\"}"
    s=$(rps -s "$(lua Sign "$sign")" "http://127.0.0.1:$P/")
    v=$(rps -s "$(lua Verify "$verify")" "http://127.0.0.1:$P/")
    # openssl speed prints "sign verify sign/s verify/s" for RSA/ECDSA and EdDSA rows.
    sp=$(openssl speed -multi 2 -seconds "$SECS" "$prim" 2>/dev/null |
         awk -v p="$prim" '($1=="rsa" && p=="rsa2048" && $2=="2048") {print int($(NF-1)), int($NF)}
                            ($0 ~ /nistp256/ && p=="ecdsap256") {print int($(NF-1)), int($NF)}
                            ($0 ~ /Ed25519/ && p=="ed25519") {print int($(NF-1)), int($NF)}' | tail -1)
    echo "  $spec $alg: kmsd Sign $s Verify $v   openssl speed sign/verify ${sp:-n/a}"
done
echo "RSS after load: $(awk '/VmRSS/ {print $2}' /proc/$PID/status) kB"
