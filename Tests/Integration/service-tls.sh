#!/usr/bin/env bash
# TLS, mutual TLS and the shared token on every hop, with the test CA of deploy/tls/make-test-ca.sh:
# client → decode → 2-rank prefill over mutual TLS with a token gives the reference tokens (pd-run's
# code path, --verify), as does plain TLS; an independent client (Python grpcio, ssl credentials)
# gets the same tokens. Refused: no client certificate, an expired one, one from another CA, a
# server certificate from another CA or expired, plaintext to a TLS port (UNAVAILABLE: the
# handshake fails); no token (UNAUTHENTICATED), a wrong one (PERMISSION_DENIED), on decode and on
# prefill. Health stays open without the token. Nothing refused was processed (the daemons'
# request counters do not move), no page leaks, the daemons keep serving. The gateway: HTTPS,
# API key (401 with an OpenAI error object without or with a wrong key, /health and /metrics
# open), mutual TLS + token to decode.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv grpcio) || fail "no grpcio venv"
pki=$work/pki
"$root/deploy/tls/make-test-ca.sh" "$pki" localhost 127.0.0.1 >/dev/null || fail "make-test-ca.sh"
openssl rand -hex 32 >"$work/token"
openssl rand -hex 32 >"$work/wrong-token"
openssl rand -hex 24 >"$work/api-key"

mtls_server=(--tls-cert "$pki/server.pem" --tls-key "$pki/server.key" --tls-client-ca "$pki/ca.pem")
tls_server=(--tls-cert "$pki/server.pem" --tls-key "$pki/server.key")
to_prefill=(--prefill-tls-ca "$pki/ca.pem" --prefill-tls-cert "$pki/client.pem" --prefill-tls-key "$pki/client.key")
client_cert=(--tls-ca "$pki/ca.pem" --tls-cert "$pki/client.pem" --tls-key "$pki/client.key")
token=(--auth-token-file "$work/token")

pp=$(free_port); dp=$(free_port); pmp=$(free_port); dmp=$(free_port)
start_prefill "$pp" 2 "${mtls_server[@]}" "${token[@]}" --metrics-listen 127.0.0.1:"$pmp"
start_decode "$dp" "$pp" "${mtls_server[@]}" "${token[@]}" "${to_prefill[@]}" --metrics-listen 127.0.0.1:"$dmp"
prefill_daemon=$prefill_pid; decode_daemon=$decode_pid

# wait_serving PORT [pd-client security args...]: health answers SERVING (no token: health is open).
wait_serving() {
  local port=$1; shift
  for _ in $(seq 300); do
    client health --target 127.0.0.1:"$port" --timeout 1 "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "daemon on port $port not SERVING over TLS after 60 s: $(client health --target 127.0.0.1:"$port" --timeout 1 "$@" 2>&1)"
}
wait_serving "$pp" "${client_cert[@]}"
wait_serving "$dp" "${client_cert[@]}"

# The reference: mutual TLS + token, every token sequence equal to pd-run's generation.
prompts=(--prompt-lengths 1,5,17,40 --num-requests 4 --concurrency 4 --max-new-tokens 8 --ignore-eos)
client generate --decode 127.0.0.1:"$dp" "${client_cert[@]}" "${token[@]}" "${prompts[@]}" --verify --model tiny --json \
  >"$work/mtls.json" || fail "generate over mutual TLS: $(cat "$work/mtls.json")"
[ "$(json_field "$work/mtls.json" "j['verified'] and len(j['results']) == 4")" = True ] || fail "mutual TLS tokens not verified"
# scripts/request takes the same flags.
LATENTSERVE_BIN=$bin "$root/scripts/request" --decode 127.0.0.1:"$dp" "${client_cert[@]}" "${token[@]}" --prompt-ids 3,17,42 \
  --max-new-tokens 6 --ignore-eos --json >"$work/request.json" || fail "scripts/request over mutual TLS"
request_tokens=$(json_field "$work/request.json" "j['result']['tokens']")

# An independent client: Python grpcio with ssl credentials, raw protobuf bytes.
cat >"$work/probe.py" <<'PY'
import sys, grpc
from raw_grpc import call, fields, varint
decode, prefill, pki, token, wrong, want = sys.argv[1:7]
read = lambda p: open(p, "rb").read()
creds = grpc.ssl_channel_credentials(read(f"{pki}/ca.pem"), read(f"{pki}/client.key"), read(f"{pki}/client.pem"))
no_cert = grpc.ssl_channel_credentials(read(f"{pki}/ca.pem"))
token, wrong = read(token).decode().strip(), read(wrong).decode().strip()

bearer = lambda t: (("authorization", f"Bearer {t}"),)
prompt = b"\x0a" + varint(3) + bytes([3, 17, 42])
request = prompt + b"\x10" + varint(6) + b"\x1a\x02\x30\x01"          # max_new_tokens 6, sampling {ignore_eos}
failures = []
def expect(name, got, code):
    ok = got[0] == code
    print(("ok  " if ok else "BAD ") + f"grpcio {name}: {got[0]} {str(got[1])[:160]!r}")
    if not ok: failures.append(name)

code, responses = call(decode, creds, "/latentserve.v1.Decode/Generate", request, bearer(token), stream=True)
tokens = [] if code != "OK" else [v2 for r in responses for n, _, v in fields(r) if n == 2 for n2, _, v2 in fields(v) if n2 == 1]
print(("ok  " if str(tokens) == want else "BAD ") + f"grpcio Generate over mutual TLS: {code} tokens {tokens}, pd-client's {want}")
if str(tokens) != want: failures.append("tokens")
expect("Generate without token", call(decode, creds, "/latentserve.v1.Decode/Generate", request, stream=True), "UNAUTHENTICATED")
expect("Generate with a wrong token", call(decode, creds, "/latentserve.v1.Decode/Generate", request, bearer(wrong), stream=True), "PERMISSION_DENIED")
expect("Generate without client certificate", call(decode, no_cert, "/latentserve.v1.Decode/Generate", request, bearer(token), stream=True), "UNAVAILABLE")
expect("Prefill/Info without token", call(prefill, creds, "/latentserve.v1.Prefill/Info", b""), "UNAUTHENTICATED")
expect("Prefill/Info with a wrong token", call(prefill, creds, "/latentserve.v1.Prefill/Info", b"", bearer(wrong)), "PERMISSION_DENIED")
expect("Prefill/Prefill without token", call(prefill, creds, "/latentserve.v1.Prefill/Prefill", prompt, stream=True), "UNAUTHENTICATED")
expect("Prefill/Info with the token", call(prefill, creds, "/latentserve.v1.Prefill/Info", b"", bearer(token)), "OK")
health = call(decode, creds, "/grpc.health.v1.Health/Check", b"")
expect("health Check without token (open)", health, "OK")
if health[0] == "OK" and health[1] != b"\x08\x01": print(f"BAD health not SERVING: {health[1]!r}"); failures.append("health")
sys.exit(1 if failures else 0)
PY
PYTHONPATH="$root/Tests/Integration" "$py" "$work/probe.py" 127.0.0.1:"$dp" 127.0.0.1:"$pp" "$pki" "$work/token" "$work/wrong-token" "$request_tokens" \
  || fail "independent grpcio client over mutual TLS"

# counters PREFILL_METRICS DECODE_METRICS: the requests each daemon has handled, as one line.
counters() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request
def total(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(name + "{") or l.startswith(name + " "))
print(f"prefill={total(sys.argv[1], 'latentserve_prefill_requests_total'):.0f}",
      f"decode={total(sys.argv[2], 'latentserve_decode_requests_total'):.0f}")
PY
}
# idle PORT: the decode daemon on PORT holds no request and every KV page is free (it returns them a
# moment after the last token, so this polls; a leaked page never comes back).
idle() {
  for _ in $(seq 50); do
    client stats --target 127.0.0.1:"$1" "${client_cert[@]}" "${token[@]}" >"$work/stats.json" 2>/dev/null \
      && [ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages'] and j['active_requests'] == 0")" = True ] && return 0
    sleep 0.2
  done
  fail "pages leaked or requests left on port $1: $(cat "$work/stats.json")"
}
idle "$dp"
before=$(counters "$pmp" "$dmp")

# refused WHAT CODE -- COMMAND...: the command fails and says CODE.
refused() {
  local what=$1 code=$2; shift 3
  if "$@" >"$work/refused.out" 2>&1; then fail "$what: accepted; expected $code"; fi
  grep -q "$code" "$work/refused.out" || fail "$what: expected $code, got: $(tail -c 600 "$work/refused.out")"
  echo "ok  $what: $(grep -m1 -o "$code.*" "$work/refused.out" | cut -c1-150)"
}
one=(--prompt-ids 3,17,42 --max-new-tokens 4 --timeout 20)
gen() { client generate --decode 127.0.0.1:"$dp" "${one[@]}" "$@"; }
refused "no client certificate" UNAVAILABLE -- gen --tls-ca "$pki/ca.pem" "${token[@]}"
refused "expired client certificate" UNAVAILABLE -- gen --tls-ca "$pki/ca.pem" --tls-cert "$pki/expired-client.pem" --tls-key "$pki/expired-client.key" "${token[@]}"
refused "client certificate of another CA" UNAVAILABLE -- gen --tls-ca "$pki/ca.pem" --tls-cert "$pki/other-client.pem" --tls-key "$pki/other-client.key" "${token[@]}"
refused "client trusting another CA" UNAVAILABLE -- gen --tls-ca "$pki/other-ca.pem" --tls-cert "$pki/client.pem" --tls-key "$pki/client.key" "${token[@]}"
refused "plaintext to a TLS port" UNAVAILABLE -- gen "${token[@]}"
# The client only sees the connection close; the server's own log names the handshake failure.
grep -q "peer did not return a certificate" "$work/decode-$dp.log" || fail "decode did not log the missing client certificate"
grep -q "certificate verify failed" "$work/decode-$dp.log" || fail "decode did not log the expired / other-CA client certificates"
refused "no token" UNAUTHENTICATED -- gen "${client_cert[@]}"
refused "wrong token" PERMISSION_DENIED -- gen "${client_cert[@]}" --auth-token-file "$work/wrong-token"
refused "Stats without token" UNAUTHENTICATED -- client stats --target 127.0.0.1:"$dp" "${client_cert[@]}"
client health --target 127.0.0.1:"$dp" "${client_cert[@]}" --timeout 5 >/dev/null || fail "health without the token is refused (it is meant to stay open)"
refused "health without a client certificate" UNAVAILABLE -- client health --target 127.0.0.1:"$dp" --tls-ca "$pki/ca.pem" --timeout 5

# Decode daemons whose own TLS or whose way to prefill is wrong.
xp=$(free_port); yp=$(free_port); zp=$(free_port)
start_decode "$xp" "$pp" --tls-cert "$pki/expired-server.pem" --tls-key "$pki/expired-server.key" "${token[@]}" "${to_prefill[@]}"
start_decode "$yp" "$pp" "${token[@]}" --prefill-tls-ca "$pki/other-ca.pem" --prefill-tls-cert "$pki/client.pem" --prefill-tls-key "$pki/client.key"
start_decode "$zp" "$pp" "${to_prefill[@]}"    # no token: prefill refuses its Info probes
wait_answering "$yp"; wait_answering "$zp"
for _ in $(seq 300); do grep -q "serving Generate" "$work/decode-$xp.log" && break; sleep 0.2; done
grep -q "serving Generate" "$work/decode-$xp.log" || fail "decode with the expired certificate did not start: $(tail -3 "$work/decode-$xp.log")"
for _ in $(seq 50); do grep -q "not reachable.*UNAUTHENTICATED" "$work/decode-$zp.log" && break; sleep 0.2; done
grep -q "not reachable.*UNAUTHENTICATED" "$work/decode-$zp.log" || fail "decode without token: prefill's refusal not logged"
grep -q "not reachable" "$work/decode-$yp.log" || fail "decode trusting another CA: prefill unreachable not logged"
[ "$(client health --target 127.0.0.1:"$yp" --timeout 5 2>/dev/null)" = notServing ] || fail "decode trusting another CA for prefill is SERVING"
[ "$(client health --target 127.0.0.1:"$zp" --timeout 5 2>/dev/null)" = notServing ] || fail "decode without the prefill token is SERVING"
refused "expired server certificate" UNAVAILABLE -- client generate --decode 127.0.0.1:"$xp" "${one[@]}" --tls-ca "$pki/ca.pem" "${token[@]}"
refused "decode that cannot reach prefill (another CA)" UNAVAILABLE -- client generate --decode 127.0.0.1:"$yp" "${one[@]}" "${token[@]}"
grep -q "plaintext and reachable" "$work/decode-$zp.log" && fail "loopback decode warned about plaintext"

after=$(counters "$pmp" "$dmp")
[ "$before" = "$after" ] || fail "refused calls were processed: before $before, after $after"
echo "ok  nothing processed by refused calls ($after)"

# Plain TLS (no client certificate) from the client to a decode whose prefill hop is mutual TLS.
tp=$(free_port)
start_decode "$tp" "$pp" "${tls_server[@]}" "${to_prefill[@]}" "${token[@]}"
wait_serving "$tp" --tls-ca "$pki/ca.pem"
client generate --decode 127.0.0.1:"$tp" --tls-ca "$pki/ca.pem" "${token[@]}" "${prompts[@]}" --verify --model tiny --json \
  >"$work/tls.json" || fail "generate over TLS: $(cat "$work/tls.json")"
[ "$(json_field "$work/tls.json" "j['verified']")" = True ] || fail "TLS tokens not verified"
tokens_of='[r["tokens"] for r in j["results"]]'
[ "$(json_field "$work/tls.json" "$tokens_of")" = "$(json_field "$work/mtls.json" "$tokens_of")" ] || fail "TLS and mutual TLS tokens differ"

# A non-loopback address without TLS: one warning line at start.
wp=$(free_port)
"$bin/pd-decode" --model tiny --listen 0.0.0.0:"$wp" --prefill 127.0.0.1:"$pp" "${token[@]}" "${to_prefill[@]}" >"$work/decode-open.log" 2>&1 &
pids+=($!)
wait_answering "$wp"
# The daemon logs after its port opens: wait for its start line before counting warnings.
for _ in $(seq 100); do grep -q "serving Generate" "$work/decode-open.log" && break; sleep 0.1; done
[ "$(grep -c "plaintext and reachable from other hosts" "$work/decode-open.log")" = 1 ] || fail "no single plaintext warning for 0.0.0.0: $(cat "$work/decode-open.log")"

# The gateway: HTTPS + API key in front, mutual TLS + token to decode.
gp=$(free_port)
start_gateway "$gp" 127.0.0.1:"$dp" "${tls_server[@]}" --api-key-file "$work/api-key" --auth-token-file "$work/token" \
  --decode-tls-ca "$pki/ca.pem" --decode-tls-cert "$pki/client.pem" --decode-tls-key "$pki/client.key"
https=(curl -s --cacert "$pki/ca.pem")
for _ in $(seq 300); do [ "$("${https[@]}" -o /dev/null -w '%{http_code}' https://127.0.0.1:"$gp"/health)" = 200 ] && break; sleep 0.2; done
[ "$("${https[@]}" -o /dev/null -w '%{http_code}' https://127.0.0.1:"$gp"/health)" = 200 ] || fail "gateway not healthy over HTTPS (health Watch over mutual TLS)"
[ "$("${https[@]}" -o /dev/null -w '%{http_code}' https://127.0.0.1:"$gp"/metrics)" = 200 ] || fail "gateway /metrics not open"
body='{"model": "tiny", "prompt": [3, 17, 42], "max_tokens": 6, "temperature": 0, "ignore_eos": true}'
post() { "${https[@]}" -o "$work/http.json" -w '%{http_code}' https://127.0.0.1:"$gp"/v1/completions -H 'content-type: application/json' -d "$body" "$@"; }
[ "$(post)" = 401 ] || fail "gateway without API key: $(cat "$work/http.json")"
[ "$(json_field "$work/http.json" "j['error']['type'] == 'invalid_request_error' and 'API key' in j['error']['message']")" = True ] \
  || fail "401 body is not an OpenAI error object: $(cat "$work/http.json")"
[ "$(post -H "Authorization: Bearer $(cat "$work/wrong-token")")" = 401 ] || fail "gateway with a wrong API key: $(cat "$work/http.json")"
echo "ok  gateway without / with a wrong API key: 401"
[ "$(post -H "Authorization: Bearer $(cat "$work/api-key")")" = 200 ] || fail "gateway with the API key: $(cat "$work/http.json")"
client generate --decode 127.0.0.1:"$dp" "${client_cert[@]}" "${token[@]}" --prompt-ids 3,17,42 --max-new-tokens 6 --ignore-eos \
  --model tiny --json >"$work/text.json" || fail "pd-client text"
[ "$(json_field "$work/http.json" "j['choices'][0]['text']")" = "$(json_field "$work/text.json" "j['result']['text']")" ] \
  || fail "gateway text $(cat "$work/http.json") differs from pd-client's $(cat "$work/text.json")"
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:"$gp"/health)" != 200 ] || fail "gateway answers plain HTTP on its HTTPS port"
echo "ok  gateway over HTTPS with the API key: same text as pd-client"

# Afterwards: the daemons are up, every page is back, and they still serve the reference tokens.
kill -0 "$prefill_daemon" && kill -0 "$decode_daemon" || fail "a daemon died"
idle "$dp"
client generate --decode 127.0.0.1:"$dp" "${client_cert[@]}" "${token[@]}" "${prompts[@]}" --verify --model tiny --json \
  >"$work/again.json" && [ "$(json_field "$work/again.json" "j['verified']")" = True ] || fail "not serving afterwards"
echo "ok: mutual TLS + token and TLS give the reference tokens (pd-client, scripts/request, grpcio, gateway over HTTPS); certificate faults UNAVAILABLE, token faults UNAUTHENTICATED / PERMISSION_DENIED, API key 401; nothing processed, no page leaked, daemons up"
