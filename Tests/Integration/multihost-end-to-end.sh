#!/usr/bin/env bash
# Five hosts as network namespaces (netns.bash): prefill ranks 0 and 1 in two namespaces under one
# mpirun (hostfile + a launch agent in place of ssh, deploy/'s flags and ports), decode in a third,
# the gateway in a fourth, the client in a fifth; every hop over mutual TLS with the token, as
# deploy/'s units ship it; links on a bridge in a switch namespace, shaped to 10 Gbit/s. Every answer equals the single-process reference (pd-run's code path); the MPI
# all-gather really crosses the link to prefill-b; every page comes back. Needs root + iproute2.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/netns.bash"
netns_require
netns_hosts prefill-a prefill-b decode gateway client
decode_at=${front_ip[decode]}:50051

start_prefill_hosts
start_decode_host
wait_host_healthy decode "${back_ip[prefill-a]}:50061"
wait_host_healthy client "$decode_at"
start_gateway_host
for _ in $(seq 120); do
  [ "$(gateway_curl client -s -m 2 -o /dev/null -w '%{http_code}' "https://${front_ip[gateway]}:8000/health")" = 200 ] && break
  sleep 0.5
done
[ "$(gateway_curl client -s -m 2 -o /dev/null -w '%{http_code}' "https://${front_ip[gateway]}:8000/health")" = 200 ] \
  || fail "gateway not healthy from the client host after 60 s"

# One rank in each prefill namespace (each namespace holds its own pd-prefill process).
for h in prefill-a prefill-b; do
  n=0
  for pid in $(ip netns pids "${host_ns[$h]}"); do [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = pd-prefill ] && n=$((n + 1)); done
  [ "$n" = 1 ] || fail "$h runs $n pd-prefill processes, expected 1 rank"
done

# Concurrent mixed lengths from the client host, straight to decode: tokens equal the reference.
# The all-gather carries (kv_lora_rank + rope) × 4 B = 192 B per prompt token per layer (3 layers on
# tiny); rank 0 sends its part of each prompt (at least ⌊n/2⌋ tokens) to rank 1, so prefill-b's port
# must carry at least that.
before=$(port_bytes "$(switch_port prefill-b back)")
client_at generate --decode "$decode_at" --prompt-lengths 1,17,160,1000 --num-requests 4 --concurrency 4 \
  --max-new-tokens 12 --ignore-eos --verify --model tiny --json >"$work/mixed.json" || fail "mixed generate/verify failed: $(cat "$work/mixed.json")"
[ "$(json_field "$work/mixed.json" "j['verified'] and len(j['results']) == 4 and all(len(r['tokens']) == 12 for r in j['results'])")" = True ] \
  || fail "mixed lengths not verified: $(cat "$work/mixed.json")"
to_b=$(( $(port_bytes "$(switch_port prefill-b back)") - before ))
min_gather=$(( (1 / 2 + 17 / 2 + 160 / 2 + 1000 / 2) * 192 * 3 ))
[ "$to_b" -ge "$min_gather" ] || fail "only $to_b bytes reached prefill-b during the requests; the all-gather alone is ≥ $min_gather"

# One request compared token by token with pd-run itself (one process, no network).
"$bin/pd-run" --model tiny --prompt-ids 3,17,42,99,7 --max-new-tokens 16 --ignore-eos --json >"$work/ref.json" || fail "pd-run failed"
client_at generate --decode "$decode_at" --prompt-ids 3,17,42,99,7 --max-new-tokens 16 --ignore-eos --json >"$work/one.json" \
  || fail "generate failed: $(cat "$work/one.json")"
ref_tokens=$(json_field "$work/ref.json" "j['tokens']")
[ "$(json_field "$work/one.json" "j['tokens']")" = "$ref_tokens" ] || fail "tokens $(json_field "$work/one.json" "j['tokens']") != pd-run's $ref_tokens"

# Without the API key the gateway refuses (401) and without the client certificate decode does:
# the hosts really talk mutual TLS with the token, as deploy/ ships it.
code=$(in_host client curl -s -m 10 --cacert "$tls_dir/ca.pem" -o /dev/null -w '%{http_code}' "https://${front_ip[gateway]}:8000/v1/models")
[ "$code" = 401 ] || fail "gateway without the API key answered $code, expected 401"
in_host client "$bin/pd-client" stats --target "$decode_at" --tls-ca "$tls_dir/ca.pem" --auth-token-file "$tls_dir/token" \
  >"$work/no-cert.json" 2>&1 && fail "decode answered a client without a certificate: $(cat "$work/no-cert.json")"

# Through the gateway (HTTPS from the client host): the completion's text and token count equal
# pd-run's for the same prompt text.
prompt="The quick brown fox"
"$bin/pd-run" --model tiny --prompt "$prompt" --max-new-tokens 20 --json >"$work/ref-text.json" || fail "pd-run --prompt failed"
gateway_curl client -s -m 30 "https://${front_ip[gateway]}:8000/v1/completions" -H 'content-type: application/json' \
  -d "{\"model\": \"tiny\", \"prompt\": \"$prompt\", \"max_tokens\": 20, \"temperature\": 0}" >"$work/completion.json" \
  || fail "gateway request failed"
python3 - "$work/ref-text.json" "$work/completion.json" <<'PY' || fail "gateway completion differs from pd-run"
import json, sys
ref, got = (json.load(open(p)) for p in sys.argv[1:3])
text, usage = got["choices"][0]["text"], got["usage"]
assert text == ref["text"], f"gateway text {text!r} != pd-run's {ref['text']!r}"
assert usage["completion_tokens"] == len(ref["tokens"]) and usage["prompt_tokens"] == len(ref["prompt_ids"]), (usage, ref["tokens"])
PY

held=$(decode_pages_held 50051)
[ "$held" = 0 ] || fail "decode still holds $held after 10 s"
echo "ok: prefill ranks in 2 namespaces under one mpirun, decode, gateway and client in 3 more ($link_shaping; mutual TLS + token);" \
  "4 concurrent mixed-length requests verified, one equal to pd-run token by token, a gateway completion equal to pd-run's text;" \
  "$to_b bytes crossed to prefill-b (all-gather ≥ $min_gather); all pages returned"
