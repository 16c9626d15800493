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

# fail MESSAGE: the message, then each daemon log's tail — or, for a daemon that crashed, its crash
# report from the top (the Swift backtracer's thread and frames), so the cause is not cut off.
fail() {
  echo "FAIL: $*" >&2
  local f first
  for f in "$work"/*.log; do
    [ -e "$f" ] || continue
    echo "--- $f" >&2
    first=$(grep -n -m1 -E "Fatal error|crashed|Segmentation fault|signal [0-9]+|Crash" "$f" | cut -d: -f1 || true)
    if [ -n "$first" ]; then sed -n "$((first > 5 ? first - 5 : 1)),$((first + 60))p" "$f" >&2; else tail -n 20 "$f" >&2; fi
  done
  exit 1
}

# A TCP port nobody listens on (127.0.0.1), below the kernel's ephemeral range: a port inside it can
# be taken, between this choice and the daemon's bind, as the local port of any outgoing connection
# (CI lost runs to that). Ports already handed out in this test are not handed out again.
free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  (( low > 20000 + 1024 )) || fail "free_port: ephemeral range starts at $low; no room below it"
  touch "$work/ports-given"
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % (low - 20000)))
    grep -qx "$p" "$work/ports-given" && continue
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && continue
    echo "$p" >>"$work/ports-given"
    echo "$p"
    return
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

# wait_answering PORT [SECONDS]: the daemon answers health checks (SERVING or not): it is up.
wait_answering() {
  local port=$1 limit=${2:-60} out
  for _ in $(seq $((limit * 5))); do
    out=$("$bin/pd-client" health --target 127.0.0.1:"$port" --timeout 1 2>/dev/null) && return 0
    [ "$out" = notServing ] && return 0
    sleep 0.2
  done
  fail "daemon on port $port not answering after ${limit}s"
}

client() { "$bin/pd-client" "$@"; }

# json_field FILE EXPR: evaluates a Python expression over the JSON object `j` read from FILE.
json_field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# metric_value PORT NAME: the value (as an integer) of an unlabelled sample on the /metrics at PORT.
metric_value() { curl -sf http://127.0.0.1:"$1"/metrics | awk -v name="$2" '$1 == name { print int($2) }'; }

# expect_pages_returned PORT [WHAT]: the decode daemon on PORT holds no request and every KV page is
# free. Pages go back a moment after the client's last token (the daemon's request epilogue), so
# this polls for up to 10 s; a leaked page never comes back, so the check still fails on a leak.
expect_pages_returned() {
  local port=$1 what=${2:-decode daemon on port $1}
  for _ in $(seq 50); do
    client stats --target 127.0.0.1:"$port" >"$work/stats-$port.json" 2>/dev/null \
      && [ "$(json_field "$work/stats-$port.json" "j['free_kv_pages'] == j['total_kv_pages'] and j['active_requests'] == 0")" = "True" ] \
      && return 0
    sleep 0.2
  done
  fail "pages leaked or requests left active on the $what after 10 s: $(cat "$work/stats-$port.json" 2>/dev/null)"
}

# logits_close A.json B.json TOL WHAT [A_KEY [B_KEY]]: B's tokens equal A's and B's last_logits are
# within TOL of A's, relative to A's largest |logit|. Equal lengths and all-finite values on both
# sides are part of the check (a NaN or a short list never passes). A_KEY/B_KEY: Python expressions
# over the loaded JSON `j` (defaults: j itself), for files that hold several cases.
logits_close() {
  python3 - "$@" <<'PY' || fail "$4"
import json, math, sys
a_path, b_path, tol, what = sys.argv[1:5]
pick = lambda path, key: eval(key, {}, {"j": json.load(open(path))})
a = pick(a_path, sys.argv[5] if len(sys.argv) > 5 else "j")
b = pick(b_path, sys.argv[6] if len(sys.argv) > 6 else "j")
want, got = a["last_logits"], b["last_logits"]
assert len(got) == len(want) > 0, f"{what}: {len(got)} logits, expected {len(want)}"
bad = [i for i, (x, y) in enumerate(zip(got, want)) if not (math.isfinite(x) and math.isfinite(y))]
assert not bad, f"{what}: non-finite logit at index {bad[0]}: {got[bad[0]]} vs {want[bad[0]]}"
scale = max(abs(y) for y in want)
err = max(abs(x - y) for x, y in zip(got, want)) / scale
assert err <= float(tol), f"{what}: relative logit error {err} > {tol}"
want_tokens = a["tokens"] if "tokens" in a else a["greedy_tokens"]
assert b["tokens"] == want_tokens, f"{what}: tokens differ {b['tokens']} vs {want_tokens}"
print(f"{what}: max relative logit error {err:.2e}, {len(b['tokens'])} tokens equal")
PY
}

# start_gateway PORT DECODE_TARGETS [extra pd-gateway args...]
start_gateway() {
  local port=$1 decodes=$2; shift 2
  "$bin/pd-gateway" --model "${MODEL:-tiny}" --listen 127.0.0.1:"$port" --decode "$decodes" "$@" \
    >"$work/gateway-$port.log" 2>&1 &
  pids+=($!)
  gateway_pid=$!
}

# wait_gateway PORT [SECONDS]: until GET /health answers 200 (a decode instance is ready).
wait_gateway() {
  local port=$1 limit=${2:-60}
  for _ in $(seq $((limit * 5))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:"$port"/health)" = 200 ] && return 0
    sleep 0.2
  done
  fail "gateway on port $port not healthy after ${limit}s"
}

# gateway_model_dir NAME: the folder a built-in model is written to (or NAME itself for a folder).
gateway_model_dir() {
  case "$1" in
    tiny|bench) echo "${LATENTSERVE_MODEL_CACHE:-$HOME/.cache/latentserve/models}/$1-v3" ;;
    *) echo "$1" ;;
  esac
}

# pd-run's text surfaces against the calling test's reference: `ref encode TEXT` (prompt ids),
# `ref decode IDS_JSON` (text, special tokens skipped) and `ref chat MESSAGES_FILE` ({text, ids}).
# check_prompt_texts MODEL REFERENCE_NAME PROMPT...: each prompt's ids and completion text; 2 checks each.
check_prompt_texts() {
  local model=$1 name=$2 prompt want got tokens; shift 2
  for prompt in "$@"; do
    "$bin/pd-run" --model "$model" --prompt "$prompt" --max-new-tokens 12 --json >"$work/run.json" || fail "pd-run --prompt failed for: $prompt"
    want=$(ref encode "$prompt")
    got=$(json_field "$work/run.json" "json.dumps(j['prompt_ids'])")
    [ "$got" = "$want" ] || fail "prompt ids differ for '$prompt': ours $got, $name $want"
    tokens=$(json_field "$work/run.json" "json.dumps(j['tokens'])")
    [ "$(json_field "$work/run.json" "json.dumps(j['text'])")" = "$(ref decode "$tokens")" ] || fail "completion text differs from $name's for '$prompt'"
    checks=$((checks + 2))
  done
}

# check_chat_text MODEL REFERENCE_NAME MESSAGES_FILE: the rendered chat and its ids (pd-run --messages,
# left in $work/chat.json; the reference's in $work/chat-ref.json); 2 checks.
check_chat_text() {
  local model=$1 name=$2 messages=$3
  "$bin/pd-run" --model "$model" --messages "$messages" --max-new-tokens 8 --json >"$work/chat.json" || fail "pd-run --messages failed"
  ref chat "$messages" >"$work/chat-ref.json"
  [ "$(json_field "$work/chat.json" "json.dumps(j['prompt_text'])")" = "$(json_field "$work/chat-ref.json" "json.dumps(j['text'])")" ] \
    || fail "rendered chat differs from $name's: $(json_field "$work/chat.json" "j['prompt_text']") vs $(json_field "$work/chat-ref.json" "j['text']")"
  [ "$(json_field "$work/chat.json" "json.dumps(j['prompt_ids'])")" = "$(json_field "$work/chat-ref.json" "json.dumps(j['ids'])")" ] \
    || fail "chat prompt ids differ from $name's"
  checks=$((checks + 2))
}
