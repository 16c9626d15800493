#!/usr/bin/env bash
# Faults on the wire between namespace hosts (netns.bash): prefill ranks in prefill-a and prefill-b
# (one mpirun), decode, a client, and a router for the slow link. Every fault runs the same 4
# concurrent requests (prompts of 3000, 1000, 160 and 17 tokens, 8 tokens each) from the client
# host and must end within its deadline in success or a clear error, never a token different from
# the fault-free run (itself verified against the reference generation), with every KV page back
# on decode, and the daemons serving correctly afterwards.
#
# Deadlines: the client gives every request 30 s (--timeout 30); decode gives each Prefill call
# 15 s (--prefill-timeout 15). A client run that does not end by 30 s + 5 s is a hang: a failure.
#
#   link-down     decode's back-network link down for 3 s while the KV is on the wire (the link is
#                 slowed to 16 Mbit/s for this case so the ~2.4 MB transfer lasts long enough to
#                 cut: the cut is checked to land after 1/4 and before the end of the bytes).
#                 Expected: success, slower: 5.5–6.5 s in four runs beside the fuzzers against 0.3 s
#                 without the cut (the senders' TCP resends on a retransmission timer that doubles
#                 each time, so the resend that gets through comes seconds after the link is back).
#                 Once in four runs on a host loaded by the soak and fuzzers the requests instead
#                 ended DEADLINE_EXCEEDED at decode's 15 s Prefill deadline: accepted when every
#                 error is that one and came by the deadline (+ 2 s); the table says so.
#   link-down-long  the same cut, the link kept down until the client has its answer. Expected:
#                 errors by decode's 15 s Prefill deadline (+ 2 s); the link comes back after.
#   loss-delay    decode ↔ prefill-a through a router adding 50 ms each way and dropping 1 % of
#                 packets (wan_delay.py, a user-space netem: this kernel has no sch_netem).
#                 Expected: success, slower.
#   route-loss    prefill-b (rank 1) loses its route to the back network for 3 s, requests sent
#                 meanwhile (the per-layer all-gather cannot reach rank 0 until it is back).
#                 Expected: success, at least 3 s late (else the fault did not bite).
#   route-loss-long  the same route kept away until the client has its answer. Expected: errors by
#                 the Prefill deadline (+ 2 s); with the route back, prefill serves again.
#
# Prints a table: fault, what the client saw, time to success/error, pages leaked. FAILS (after the
# table) when a row breaks its expectation.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/netns.bash"
netns_require
netns_hosts prefill-a prefill-b decode client router
decode_at=${front_ip[decode]}:50051
client_timeout=30 prefill_timeout=15 hang_margin=5
lengths=3000,1000,160,17

start_prefill_hosts
start_decode_host LATENTSERVE_PREFILL_TIMEOUT="$prefill_timeout"
wait_host_healthy decode "${back_ip[prefill-a]}:50061"
wait_host_healthy client "$decode_at"

# run_requests NAME [pd-client args...]: the 4 requests from the client host, in the background
# (pid in $run_pid); NAME.json / NAME.err hold what the client printed.
run_requests() {
  local name=$1; shift
  ip netns exec "${host_ns[client]}" "$bin/pd-client" generate "${client_tls[@]}" --decode "$decode_at" --prompt-lengths "$lengths" \
    --num-requests 4 --concurrency 4 --max-new-tokens 8 --ignore-eos --timeout "$client_timeout" --json "$@" \
    >"$work/$name.json" 2>"$work/$name.err" &
  run_pid=$!
  run_start=$(date +%s.%N)
}

# finish_requests: waits for the run (bounded: client timeout + margin, else it is a hang and is
# killed); sets run_seconds and run_status (124 for a hang).
finish_requests() {
  local limit=$(( (client_timeout + hang_margin) * 10 ))
  for _ in $(seq $limit); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$run_pid" 2>/dev/null; then
    kill -KILL "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; run_status=124
  else
    wait "$run_pid" && run_status=0 || run_status=$?
  fi
  run_seconds=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$run_start" "$(date +%s.%N)")
}

# outcome NAME: one line of what the client saw; exit status 2 on a wrong token (a finished
# request whose tokens differ from the baseline, or a failed one whose partial tokens are not a
# prefix of it), 3 on an error that is not one clear line with its gRPC status, 1 when no JSON came back.
outcome() {
  python3 - "$work/baseline.json" "$work/$1.json" "$work/$1.err" <<'PY'
import json, re, sys
base = [r["tokens"] for r in json.load(open(sys.argv[1]))["results"]]
try:
    rows = json.load(open(sys.argv[2]))["results"]
except Exception:
    err = open(sys.argv[3]).read().strip().splitlines()
    print("no answer" + (f": {err[-1][:120]}" if err else ""))
    sys.exit(1)
ok = [r for r in rows if r.get("error") is None]
wrong = [i for i, r in enumerate(rows) if (r.get("error") is None and r["tokens"] != base[i])
         or (r.get("error") is not None and r["tokens"] != base[i][:len(r["tokens"])])]
errors = sorted({r.get("error") for r in rows if r.get("error") is not None})
line = f"{len(ok)}/{len(rows)} ok" + (", tokens equal" if ok else "")
if wrong:
    line = f"WRONG TOKENS in request(s) {wrong}; " + line
if errors:  # (no "|": the caller's table splits on it)
    line += f"; {len(rows) - len(ok)} failed: " + " / ".join(e[:200].replace("|", "/") for e in errors)
unclear = [e for e in errors if not re.match(r"gRPC status [A-Z_]+: \S", e)]
if unclear:
    line = f"UNCLEAR ERROR {unclear[0][:120]!r}; " + line
print(line)
sys.exit(2 if wrong else 3 if unclear else 0)
PY
}

# serving_after NAME: a verified request (17 tokens, 4 new) from the client host within 30 s.
serving_after() {
  timeout 40 ip netns exec "${host_ns[client]}" "$bin/pd-client" generate "${client_tls[@]}" --decode "$decode_at" --prompt-lengths 17 \
    --max-new-tokens 4 --ignore-eos --timeout 30 --verify --model tiny --json >"$work/after-$1.json" 2>"$work/after-$1.err" \
    && [ "$(json_field "$work/after-$1.json" "j['verified']")" = True ]
}

rows=() bad=()
# record NAME EXPECT(success|error|success-or-deadline) DETAIL: one table row from the last run; the checks of
# every fault: ended before its deadline, no wrong token, the expected kind of ending, 0 pages
# leaked, daemons alive and serving.
record() {
  local name=$1 expect=$2 detail=$3 saw status leaked kind
  saw=$(outcome "$name") && status=0 || status=$?
  leaked=$(decode_pages_held 50051)
  [ "$run_status" = 124 ] && { saw="HANG past ${client_timeout}+${hang_margin} s; $saw"; bad+=("$name: hang"); }
  [ "$status" = 2 ] && bad+=("$name: wrong tokens")
  [ "$status" = 1 ] && bad+=("$name: no answer from pd-client")
  [ "$status" = 3 ] && bad+=("$name: an error without its gRPC status")
  kind=$([ "$run_status" = 0 ] && echo success || echo error)
  if [ "$expect" = success-or-deadline ] && [ "$kind" = error ]; then
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) + 2 else 1)" "$run_seconds" "$prefill_timeout" \
      && [ "$(grep -o "gRPC status [A-Z_]*" <<<"$saw" | sort -u)" = "gRPC status DEADLINE_EXCEEDED" ] \
      && expect=error saw="$saw (the transfer had not resumed by the Prefill deadline)"
  fi
  [ "${expect%-or-deadline}" = "$kind" ] || bad+=("$name: expected $expect, got $kind ($saw)")
  [ "$leaked" = 0 ] || bad+=("$name: decode still holds $leaked")
  kill -0 "$prefill_pid" 2>/dev/null && kill -0 "$decode_pid" 2>/dev/null || bad+=("$name: a daemon exited")
  serving_after "$name" || bad+=("$name: not serving correctly afterwards: $(tail -c 300 "$work/after-$name.json") $(tail -c 300 "$work/after-$name.err")")
  rows+=("$name|$detail|$saw|$kind in ${run_seconds} s|$leaked")
}

# Baseline: no fault (timed), then the same requests with --verify: equal to the reference
# generation (pd-run's code path) and to the baseline.
run_requests baseline; finish_requests
[ "$run_status" = 0 ] || fail "the fault-free run failed: $(cat "$work/baseline.err")"
baseline_seconds=$run_seconds
run_requests verify --verify --model tiny; finish_requests
[ "$run_status" = 0 ] && [ "$(json_field "$work/verify.json" "j['verified']")" = True ] \
  || fail "the fault-free run differs from the reference: $(cat "$work/verify.err")"
outcome verify >/dev/null || fail "two fault-free runs differ: $(outcome verify)"
kv_total=$(json_field "$work/baseline.json" "sum(r['kv_bytes'] for r in j['results'])")
rows+=("none|baseline|$(outcome baseline)|success in ${baseline_seconds} s|$(decode_pages_held 50051)")

decode_port=$(switch_port decode back)
sw=${host_ns[switch]}

# cut_mid_transfer NAME: decode's back port slowed to 16 Mbit/s, the requests started, and the link
# taken down once a quarter of their KV bytes have crossed it (polled every 50 ms, ≤ 20 s); cut_at:
# the bytes by then (empty if the cut never happened). A cut must land before the last KV byte.
cut_mid_transfer() {
  netns_shape_port "$decode_port" 16mbit
  local start_bytes sent
  start_bytes=$(port_bytes "$decode_port")
  run_requests "$1"
  cut_at=""
  for _ in $(seq 400); do
    sent=$(( $(port_bytes "$decode_port") - start_bytes ))
    if [ "$sent" -ge $((kv_total / 4)) ]; then ip -n "$sw" link set "$decode_port" down; cut_at=$sent; break; fi
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$cut_at" ] && [ "$cut_at" -lt "$kv_total" ] || bad+=("$1: the cut did not land mid-transfer (${cut_at:-never} of $kv_total KV bytes)")
}
link_up() { ip -n "$sw" link set "$decode_port" up; netns_shape_port "$decode_port"; }

# 1. link-down: cut mid-transfer, back up 3 s later.
cut_mid_transfer link-down
[ -n "$cut_at" ] && sleep 3
link_up
finish_requests
record link-down success-or-deadline "decode back link down 3 s, cut after ${cut_at:-?} of $kv_total KV bytes (16 Mbit/s)"

# 2. link-down-long: cut mid-transfer, kept down until the client has its answer, then back up. The
# requests must fail by decode's Prefill deadline (+ 2 s), not the client's.
cut_mid_transfer link-down-long
finish_requests
link_up
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) + 2 else 1)" "$run_seconds" "$prefill_timeout" \
  || bad+=("link-down-long: the error took $run_seconds s, more than the ${prefill_timeout} s Prefill deadline + 2 s")
record link-down-long error "decode back link down until the client's answer, cut after ${cut_at:-?} of $kv_total KV bytes"

# 3. loss-delay: through the router's user-space WAN (50 ms each way, 1 % loss), then direct again.
wan_start 0.05 0.01
wan_route_through_router on
run_requests loss-delay
finish_requests
wan_route_through_router off
kill -TERM "$wan_pid"; wait "$wan_pid" 2>/dev/null || true
record loss-delay success "decode<->prefill-a 50 ms each way + 1 % loss ($(tail -n 1 "$work/wan.log" | sed 's/^wan_delay: //'))"

# 4. route-loss: prefill-b loses its back-network route; requests sent; the route is back after 3 s.
ip -n "${host_ns[prefill-b]}" route del "$back_net.0/24" dev eth1
run_requests route-loss
sleep 3
ip -n "${host_ns[prefill-b]}" route add "$back_net.0/24" dev eth1 proto kernel scope link src "${back_ip[prefill-b]}"
finish_requests
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 3 else 1)" "$run_seconds" \
  || bad+=("route-loss: the requests ended in $run_seconds s, before the route came back: the fault did not bite")
record route-loss success "prefill-b's route to the back network gone 3 s"

# 5. route-loss-long: the same, the route kept away until the client has its answer (by decode's
# Prefill deadline), then back: prefill must finish the stalled batch and serve again.
ip -n "${host_ns[prefill-b]}" route del "$back_net.0/24" dev eth1
run_requests route-loss-long
finish_requests
ip -n "${host_ns[prefill-b]}" route add "$back_net.0/24" dev eth1 proto kernel scope link src "${back_ip[prefill-b]}"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) + 2 else 1)" "$run_seconds" "$prefill_timeout" \
  || bad+=("route-loss-long: the error took $run_seconds s, more than the ${prefill_timeout} s Prefill deadline + 2 s")
record route-loss-long error "prefill-b's route gone until the client's answer"

echo
echo "Fault table (client deadline ${client_timeout} s, decode Prefill deadline ${prefill_timeout} s; links: $link_shaping)"
printf '| %s | %s | %s | %s | %s |\n' fault "what happened" "what the client saw" "time to success/error" "pages leaked"
printf '| --- | --- | --- | --- | --- |\n'
for r in "${rows[@]}"; do IFS='|' read -r a b c d e <<<"$r"; printf '| %s | %s | %s | %s | %s |\n' "$a" "$b" "$c" "$d" "$e"; done
echo
[ ${#bad[@]} -eq 0 ] || fail "$(printf '%s; ' "${bad[@]}")"
echo "ok: 5 faults on the wire: each ended before its deadline, no wrong token, 0 pages leaked, daemons serving afterwards"
