#!/usr/bin/env bash
# kmsd developer entry point. On a fresh Debian bookworm machine:
#   tools/dev.sh run    installs what is missing, builds (Release), serves on 127.0.0.1:8080
#   tools/dev.sh test   installs what is missing, builds, runs every test (unit + integration)
#   tools/dev.sh build  installs and builds only
#   tools/dev.sh sanitize [address,undefined|thread]
#                       a sanitizer build (default ASan+UBSan, clang-14) running the unit and
#                       Python tests (KMSD_SAN_PYTHON="test_a test_b" limits the Python ones)
# Extra arguments after `run` go to kmsd (e.g. tools/dev.sh run --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${KMSD_BUILD_DIR:-$ROOT/build}

PACKAGES=(build-essential cmake ninja-build libboost1.81-dev libssl-dev libsqlite3-dev
          nlohmann-json3-dev libsimdjson-dev catch2 libspdlog-dev libcli11-dev libyaml-cpp-dev libre2-dev libsodium-dev libjemalloc-dev pkg-config libbenchmark-dev
          lld-16  # links kmsd with its code laid out by use (CMakeLists.txt, KMSD_STATIC_DEPS)
          ccache nodejs npm
          # The clients of tests/integration/python/test_clients.py (Debian's, by full path):
          # Go SDK v1 and v2 (built offline in GOPATH mode), Ruby, AWS CLI v2, boto3 1.26.
          golang-go golang-github-aws-aws-sdk-go-dev golang-github-aws-aws-sdk-go-v2-dev
          ruby-aws-sdk-kms awscli python3-boto3 python3-cryptography
          # The web console's test drives a real headless browser (puppeteer-core).
          chromium)

install_deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        # node/npm may come from elsewhere (nvm, nodesource): only install when absent.
        if [[ $p == nodejs || $p == npm ]]; then
            command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue
        fi
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        local sudo=""
        [[ $(id -u) == 0 ]] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    ensure_promtool
}

# promtool, from Debian's prometheus package, checks the /_kmsd/metrics page (test_metrics.py).
# Only the package's files are unpacked, into a cache: installing it would also set up a
# Prometheus service.
PROMTOOL_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/kmsd-prometheus
export KMSD_PROMTOOL=$PROMTOOL_DIR/usr/bin/promtool
ensure_promtool() {
    [[ -x $KMSD_PROMTOOL ]] && return
    local tmp
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
        local sudo=""
        [[ $(id -u) == 0 ]] || sudo="sudo"
        $sudo apt-get update -qq
        (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1)
    fi
    mkdir -p "$PROMTOOL_DIR"
    dpkg -x "$tmp"/prometheus_*.deb "$PROMTOOL_DIR"
    rm -rf "$tmp"
}

# ccache (installed with the rest): rebuilds, and the image build in docker/test.sh, reuse
# identical compilations. Paths are hashed relative to the repository root, as in the image, and
# the compiler by its content: the image's g++ is the same package installed at another time, so
# its mtime (ccache's default check) differs.
launcher=()
use_ccache() {
    launcher=()
    if command -v ccache >/dev/null; then
        export CCACHE_BASEDIR=$ROOT CCACHE_COMPILERCHECK=content
        launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    fi
}

build() {
    install_deps
    use_ccache
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKMSD_WERROR=ON \
        "${launcher[@]}" >/dev/null
    cmake --build "$BUILD"
}

# Sanitizer builds use clang-14 at -O1 with line tables: a third of RelWithDebInfo's compile
# time, stacks still have file:line, asserts stay on. GCC cannot instrument Asio's
# atomic_thread_fence for TSan (-Wtsan); clang can. The ASan+UBSan build also carries libFuzzer's
# coverage instrumentation and the fuzz targets (KMSD_FUZZ), so one build serves the unit and
# integration tests under ASan and tests/fuzz/run (CI compiles it once instead of twice).
sanitize_build() {
    local san=$1
    shift
    PACKAGES+=(clang-14 libclang-rt-14-dev)
    install_deps
    use_ccache
    SBUILD="$ROOT/build-${san//,/-}"
    local extra=("${launcher[@]}")
    [[ $san == address,undefined ]] && extra+=(-DKMSD_FUZZ=ON)
    cmake -S "$ROOT" -B "$SBUILD" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
        -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -gline-tables-only" -DCMAKE_CXX_COMPILER=clang++-14 \
        -DKMSD_SANITIZE="$san" -DKMSD_UNITY_TESTS=ON "${extra[@]}" >/dev/null
    cmake --build "$SBUILD" ${KMSD_BUILD_JOBS:+-j "$KMSD_BUILD_JOBS"} --target "$@"
}

# Runs the named Python test modules against a sanitizer build. Most of their time is spent
# waiting on a server, so they run in two groups side by side, as ctest -j2 runs them; the ones
# that load the server hard or bound proxy calls in time (as ctest's RUN_SERIAL ones) run alone
# first, so a neighbour cannot skew them.
sanitized_python() {
    local alone=() a=() b=() m status=0
    for m in "$@"; do
        case $m in
            test_hostile | test_stress | test_crash_loop | test_xks) alone+=("$m") ;;
            *) if ((${#a[@]} <= ${#b[@]})); then a+=("$m"); else b+=("$m"); fi ;;
        esac
    done
    if ((${#alone[@]})); then python3 -m unittest "${alone[@]}" || return 1; fi
    ((${#a[@]})) || return 0
    if ((${#b[@]} == 0)); then
        python3 -m unittest "${a[@]}"
        return
    fi
    local log_a log_b pid_a pid_b
    log_a=$(mktemp)
    log_b=$(mktemp)
    python3 -m unittest "${a[@]}" >"$log_a" 2>&1 &
    pid_a=$!
    python3 -m unittest "${b[@]}" >"$log_b" 2>&1 &
    pid_b=$!
    wait "$pid_a" || status=1
    wait "$pid_b" || status=1
    echo "--- ${a[*]}"
    cat "$log_a"
    echo "--- ${b[*]}"
    cat "$log_b"
    rm -f "$log_a" "$log_b"
    return $status
}

case "${1:-}" in
    run)
        shift
        build
        exec "$BUILD/kmsd" "$@"
        ;;
    build)
        build
        ;;
    test)
        build
        # The JS integration tests' dependencies, exactly as pinned in package-lock.json.
        if [[ ! -d tests/integration/js/node_modules ]]; then
            (cd tests/integration/js && npm ci --no-audit --no-fund --loglevel=error)
            cmake -S "$ROOT" -B "$BUILD" >/dev/null  # registers the JS test now that it can run
        fi
        ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)"
        ;;
    sanitize-build)
        # tools/dev.sh sanitize-build SAN TARGET...: configure and build the sanitizer build of
        # SAN (tests/fuzz/run builds its targets in the ASan+UBSan one). Prints its directory last.
        SAN=${2:?usage: tools/dev.sh sanitize-build SAN TARGET...}
        shift 2
        sanitize_build "$SAN" "$@" >&2
        echo "$SBUILD"
        ;;
    sanitize)
        SAN=${2:-address,undefined}
        sanitize_build "$SAN" kmsd kmsd_tests
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
        "$SBUILD/kmsd_tests"
        # KMSD_SAN_PYTHON names the Python test modules to run (default: all of them); the
        # harness fails a test class when kmsd's stderr holds a sanitizer report.
        (cd tests/integration/python &&
            if [[ -n ${KMSD_SAN_PYTHON:-} ]]; then
                KMSD_BIN="$SBUILD/kmsd" sanitized_python $KMSD_SAN_PYTHON
            else
                KMSD_BIN="$SBUILD/kmsd" python3 -m unittest discover -s .
            fi)
        ;;
    *)
        echo "usage: tools/dev.sh run|test|build|sanitize" >&2
        exit 2
        ;;
esac
