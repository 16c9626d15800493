#!/usr/bin/env bash
# A full KV cache: a request larger than the whole cache is refused with RESOURCE_EXHAUSTED at once;
# requests are admitted with their prompt's pages and grow page by page, so a burst needing three
# times the cache runs together: when pages run out the latest sequences are preempted, wait first
# in line and are recomputed by the prefill, and every request is served exactly as alone (greedy,
# and seeded sampling, against pd-run's code path) — with the admission queue and without it, and
# through the gateway (the openai SDK's streamed chats equal the same chats sent alone).
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port); qp=$(free_port); mp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp" --kv-pages 8 --page-size 16 --max-queued-requests 0 --metrics-listen 127.0.0.1:"$mp"   # 128 tokens in all
wait_healthy "$pp"; wait_healthy "$dp"
if client generate --decode 127.0.0.1:"$dp" --prompt-lengths 100 --max-new-tokens 100 2>"$work/err.txt" >/dev/null; then
  fail "a request needing 13 pages was accepted by an 8-page cache"
fi
grep -q "RESOURCE_EXHAUSTED" "$work/err.txt" || fail "expected RESOURCE_EXHAUSTED: $(cat "$work/err.txt")"
grep -q "KV cache full" "$work/err.txt" || fail "error should say the KV cache is full: $(cat "$work/err.txt")"

preemptions() { metric_value "$mp" latentserve_decode_preemptions_total; }
# burst NAME PORT [pd-client args...]: 6 requests of 8 + 112 tokens (8 pages each) at once; all are
# served and equal the reference. With no queue (--max-queued-requests 0) a new request that finds
# a preempted one waiting is refused with RESOURCE_EXHAUSTED, as it would be without preemption.
burst() {
  local name=$1 port=$2; shift 2
  client generate --decode 127.0.0.1:"$port" --prompt-lengths 8,9,10 --max-new-tokens 112 --ignore-eos --num-requests 6 \
    --concurrency 6 --verify --model tiny --json "$@" >"$work/$name.json" 2>"$work/$name.err" || true
  [ "$(json_field "$work/$name.json" "len(j['results']) == 6 and j['verified']")" = "True" ] \
    || fail "$name: expected 6 results, the served ones equal to the reference: $(cat "$work/$name.json" "$work/$name.err")"
  [ "$(json_field "$work/$name.json" "all(r.get('error') is None or 'RESOURCE_EXHAUSTED' in r['error'] for r in j['results'])")" = "True" ] \
    || fail "$name: an error other than RESOURCE_EXHAUSTED: $(cat "$work/$name.json")"
  kill -0 "$decode_pid" || fail "decode daemon exited during $name"
  expect_pages_returned "$port"
}
# Overlap is up to the client's threads: a burst that ran one after another proves nothing, so up
# to 3 bursts until one preempted.
before=$(preemptions)
for attempt in 1 2 3; do
  burst "greedy-$attempt" "$dp"
  [ "$(preemptions)" -gt "$before" ] && break
  echo "burst $attempt: no preemption (the requests barely overlapped); again"
done
after=$(preemptions)
[ "$after" -gt "$before" ] || fail "3 bursts of 6 × 8 pages on an 8-page cache and no preemption"
served=$(json_field "$work/greedy-$attempt.json" "sum(r.get('error') is None for r in j['results'])")
[ "$served" -ge 1 ] || fail "not one request of the burst was served"
grep -q "preempted for KV pages" "$work/decode-$dp.log" || fail "the decode log does not name the preemption"
echo "ok: no queue: $((after - before)) preemptions in a burst of 6 × 8 pages on 8 pages; $served of 6 served exactly, any other refused with RESOURCE_EXHAUSTED"

# With the admission queue every request is served; seeded sampling continues its stream across a
# preemption (the sampler's RNG and penalties stay with the request).
qmp=$(free_port)
start_decode "$qp" "$pp" --kv-pages 8 --page-size 16 --max-queued-requests 8 --max-queue-seconds 60 --metrics-listen 127.0.0.1:"$qmp"
wait_healthy "$qp"
for args in "" "--temperature 0.8 --top-k 50 --seed 11 --repetition-penalty 1.2"; do
  # shellcheck disable=SC2086
  burst queued "$qp" $args
  [ "$(json_field "$work/queued.json" "all(r.get('error') is None for r in j['results'])")" = "True" ] \
    || fail "queued burst ($args): all six should be served: $(cat "$work/queued.json")"
done
n=$(grep -c "preempted for KV pages" "$work/decode-$qp.log" || true)
echo "ok: with the queue, greedy and seeded bursts of 6 × 8 pages on 8 pages served in full and exactly ($n preemptions)"
client generate --decode 127.0.0.1:"$qp" --prompt-lengths 20 --max-new-tokens 10 --verify --model tiny >/dev/null || fail "later request failed"
expect_pages_returned "$qp"

# Through the gateway with the openai SDK: six streamed chats at once on the 8-page cache are preempted
# and resumed, and each stream's text equals the same chat sent alone (no preemption), token by token.
gp=$(free_port)
start_gateway "$gp" 127.0.0.1:"$qp"
wait_gateway "$gp"
py=$("$root/scripts/python-env" venv openai requests) || fail "no python venv"
"$py" - "$gp" "$qmp" <<'PY' || fail "streamed chats under preemption"
import concurrent.futures, sys, requests
from openai import OpenAI
gateway, metrics = sys.argv[1:]
client = OpenAI(base_url=f"http://127.0.0.1:{gateway}/v1", api_key="unused", max_retries=0, timeout=120)
def preemptions():
    for line in requests.get(f"http://127.0.0.1:{metrics}/metrics", timeout=10).text.splitlines():
        if line.startswith("latentserve_decode_preemptions_total "): return int(float(line.split()[1]))
    return 0
def chat(i, stream):
    kw = dict(model="tiny", messages=[{"role": "user", "content": f"Count to {i}."}], max_tokens=90, temperature=0,
              extra_body={"ignore_eos": True})
    if not stream: return client.chat.completions.create(**kw).choices[0].message.content
    return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(stream=True, **kw) if c.choices)
for attempt in range(3):   # overlap is up to the threads: retried when nothing was preempted
    before = preemptions()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        streamed = list(pool.map(lambda i: chat(i, True), range(6)))
    if preemptions() > before: break
else:
    sys.exit("3 bursts of 6 streamed chats and no preemption")
alone = [chat(i, False) for i in range(6)]
assert streamed == alone, f"a stream differs from the chat alone: {streamed} vs {alone}"
print(f"ok: openai SDK: 6 streamed chats at once, {preemptions() - before} preemptions, each equal to the chat alone")
PY
expect_pages_returned "$qp"
