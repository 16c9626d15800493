# Shared by the integration tests (sourced, not run): binaries, free ports, daemons that are
# always stopped when the test exits, bounded waits. KEEP_LOGS=DIR keeps the daemons' logs there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${LATENTSERVE_BIN:-$root/.build/release}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
work=$(mktemp -d)
pids=()

cleanup() {
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp -r "$work"/. "$KEEP_LOGS"/; fi
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do [ -e "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

# A TCP port nobody listens on (127.0.0.1).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
  fail "no free port"
}

# start_prefill PORT [RANKS] [extra pd-prefill args...]: mpirun'd prefill daemon in the background.
start_prefill() {
  local port=$1 ranks=${2:-2}; shift 2 || shift $#
  mpirun -np "$ranks" --oversubscribe --bind-to none "$bin/pd-prefill" --model "${MODEL:-tiny}" \
    --listen 127.0.0.1:"$port" --log-level "${LOG_LEVEL:-info}" "$@" >"$work/prefill-$port.log" 2>&1 &
  pids+=($!)
  prefill_pid=$!
}

# start_decode PORT PREFILL_PORT [extra pd-decode args...]
start_decode() {
  local port=$1 prefill=$2; shift 2
  "$bin/pd-decode" --model "${MODEL:-tiny}" --listen 127.0.0.1:"$port" --prefill 127.0.0.1:"$prefill" \
    --log-level "${LOG_LEVEL:-info}" "$@" >"$work/decode-$port.log" 2>&1 &
  pids+=($!)
  decode_pid=$!
}

# wait_healthy PORT [SECONDS]
wait_healthy() {
  local port=$1 limit=${2:-60}
  for _ in $(seq $((limit * 5))); do
    "$bin/pd-client" health --target 127.0.0.1:"$port" --timeout 1 >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "daemon on port $port not healthy after ${limit}s"
}

client() { "$bin/pd-client" "$@"; }

# json_field FILE EXPR: evaluates a Python expression over the JSON object `j` read from FILE.
json_field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
