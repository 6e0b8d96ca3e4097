#!/usr/bin/env bash
# Builds the kmsd image and drives a container from outside with boto3: create a key and encrypt,
# restart the container on the same volume, decrypt. Prints the image size, the time from `run`
# to healthy and the container's idle memory. Uses docker when an engine answers, else podman
# (with the base image imported locally by docker/podman-base.sh, since no registry is reachable
# on machines without one).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${KMSD_DOCKER_PORT:-18580}
NAME=kmsd-docker-test
VOLUME=kmsd-docker-test-data

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=docker
    BUILD=(docker build)
    RUN=(docker run)
else
    ENGINE=podman
    docker/podman-base.sh
    BUILD=(podman build --format docker --isolation chroot --network host)
    # The host's compiler cache, when it has one (tools/dev.sh builds through ccache): the image's
    # build stage then reuses the Release build's objects (docker build has no -v; it builds).
    if command -v ccache >/dev/null 2>&1; then
        cache_dir=$(ccache -k cache_dir)
        mkdir -p "$cache_dir"
        BUILD+=(-v "$cache_dir:/ccache")
    fi
    # crun fails on hybrid cgroups here, and high ulimits are refused.
    RUN=(podman --runtime runc --cgroup-manager=cgroupfs run --ulimit nofile=4096:4096
         --ulimit nproc=4096:4096)
fi

cleanup() {
    $ENGINE rm -f "$NAME" >/dev/null 2>&1 || true
    $ENGINE volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

"${BUILD[@]}" -t kmsd -f docker/Dockerfile . >/dev/null
echo "image size: $($ENGINE image inspect kmsd --format '{{.Size}}') bytes"

start() {
    local t0 t1
    t0=$(date +%s%N)
    "${RUN[@]}" -d --name "$NAME" -p "$PORT:8080" -v "$VOLUME:/data" \
        -v "$SEED_DIR/seed.yaml:/init/seed.yaml:ro" kmsd >/dev/null
    until curl -sf "http://127.0.0.1:$PORT/_kmsd/health" >/dev/null; do sleep 0.01; done
    t1=$(date +%s%N)
    # The image's own HEALTHCHECK command (kmsd healthcheck, no curl in the image).
    $ENGINE exec "$NAME" /kmsd healthcheck
    echo "run to healthy: $(( (t1 - t0) / 1000000 )) ms"
}

stop() {
    local t0 t1
    t0=$(date +%s%N)
    $ENGINE stop -t 10 "$NAME" >/dev/null
    t1=$(date +%s%N)
    echo "stop (SIGTERM to exit): $(( (t1 - t0) / 1000000 )) ms, exit code $($ENGINE inspect "$NAME" --format '{{.State.ExitCode}}')"
    $ENGINE rm "$NAME" >/dev/null
}

# A local-kms seed file at /init/seed.yaml, as local-kms users mount it.
SEED_DIR=$(mktemp -d)
chmod 755 "$SEED_DIR"
cat > "$SEED_DIR/seed.yaml" <<'YAML'
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: bc436485-5092-42b8-92a3-0aa8b93536dc
        BackingKeys:
          - 5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9
Aliases:
  - AliasName: alias/seeded
    TargetKeyId: bc436485-5092-42b8-92a3-0aa8b93536dc
YAML
chmod 644 "$SEED_DIR/seed.yaml"

start
sleep 1
echo "idle memory: $($ENGINE stats --no-stream --format '{{.MemUsage}}' "$NAME" 2>/dev/null || echo unknown)"

STATE=$(mktemp)
python3 - "$PORT" "$STATE" <<'PY'
import json, sys, boto3
port, state = sys.argv[1], sys.argv[2]
kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
key = kms.create_key(Description="docker test")["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName="alias/docker-test", TargetKeyId=key)
blob = kms.encrypt(KeyId="alias/docker-test", Plaintext=b"survives restarts",
                   EncryptionContext={"test": "docker"})["CiphertextBlob"]
json.dump({"key": key, "blob": blob.hex()}, open(state, "w"))
seeded = kms.describe_key(KeyId="alias/seeded")["KeyMetadata"]["KeyId"]
assert seeded == "bc436485-5092-42b8-92a3-0aa8b93536dc", seeded
print("created", key)
PY
stop
start
python3 - "$PORT" "$STATE" <<'PY'
import json, sys, boto3
port, state = sys.argv[1], json.load(open(sys.argv[2]))
kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
out = kms.decrypt(CiphertextBlob=bytes.fromhex(state["blob"]), EncryptionContext={"test": "docker"})
assert out["Plaintext"] == b"survives restarts", out
assert out["KeyId"].endswith(state["key"]), out
assert kms.describe_key(KeyId="alias/docker-test")["KeyMetadata"]["KeyId"] == state["key"]
print("decrypted after restart with the same volume")
PY
stop
rm -rf "$STATE" "$SEED_DIR"
echo "docker test: 1 passed, 0 failed"
