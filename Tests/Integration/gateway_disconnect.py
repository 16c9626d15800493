"""Client disconnects through the gateway, from raw sockets, checked on the daemons' own reports.
Run by gateway-disconnect.sh (env: GATEWAY, DECODE, PREFILL_METRICS, BIN)."""
import json, os, socket, subprocess, sys, time

import requests
from prometheus_client.parser import text_string_to_metric_families

GATEWAY, DECODE, PREFILL_METRICS, BIN = (os.environ[k] for k in ("GATEWAY", "DECODE", "PREFILL_METRICS", "BIN"))
LONG = [(i * 7919 + 13) % 256 + 2 for i in range(3000)]   # ids 2..257: no BOS / EOS


def fail(what):
    print(f"FAIL: {what}", file=sys.stderr)
    sys.exit(1)


def decode_stats():
    return json.loads(subprocess.run([f"{BIN}/pd-client", "stats", "--target", DECODE], check=True,
                                     capture_output=True, text=True).stdout)


def counter(address, name, **labels):
    for family in text_string_to_metric_families(requests.get(f"http://{address}/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0


def prefill_cancelled():
    return counter(PREFILL_METRICS, "latentserve_prefill_requests_total", outcome="cancelled")


def prefill_pages_used():
    return counter(PREFILL_METRICS, "latentserve_prefill_kv_pages_used")


def wait_until(ready, tries, step, failure):
    """Polls `ready` up to `tries` times, `step` seconds apart; fails with `failure` if it never holds."""
    for _ in range(tries):
        if ready():
            return
        time.sleep(step)
    fail(failure)


def gateway_aborts():
    return counter(GATEWAY, "latentserve_requests_total", endpoint="completions", finish_reason="abort", status="499")


def send(body):
    """A raw HTTP/1.1 request on a fresh socket, left open."""
    data = json.dumps(body).encode()
    host, port = GATEWAY.split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(data)).encode() + b"\r\n\r\n" + data)
    return sock


def settled(what, want_generated, cancelled=True):
    """Decode holds nothing and every page is free; its latest request was cancelled (unless
    `cancelled` is False) with a generated-token count that `want_generated` accepts."""
    for _ in range(150):
        s = decode_stats()
        if s["active_requests"] == 0 and s["free_kv_pages"] == s["total_kv_pages"] and s["recent"]:
            break
        time.sleep(0.1)
    else:
        fail(f"{what}: decode still holds the request or pages 15 s after the disconnect: {s}")
    latest = s["recent"][0]
    if (cancelled and latest["finish_reason"] != "cancelled") or not want_generated(latest["generated_tokens"]):
        fail(f"{what}: decode's latest request {latest}")
    return latest


# The prefill's cost for the long prompt, uncancelled: the disconnects below land at a fraction of it.
start = time.perf_counter()
r = requests.post(f"http://{GATEWAY}/v1/completions",
                  json={"model": "tiny", "prompt": LONG, "max_tokens": 1, "temperature": 0, "ignore_eos": True})
full = time.perf_counter() - start
if r.status_code != 200 or r.json()["usage"]["prompt_tokens"] != len(LONG):
    fail(f"uncancelled long request: {r.status_code} {r.text[:300]}")
if full < 0.5:
    fail(f"the {len(LONG)}-token prefill took {full:.2f} s: too fast to disconnect during it")
print(f"ok: uncancelled {len(LONG)}-token prompt answered in {full:.2f} s")

# 1. and 2. The client leaves while its prompt is in prefill: whole and streamed responses.
for stream in (False, True):
    what = f"{'streamed' if stream else 'whole'} response, client gone during prefill"
    wait_until(lambda: prefill_pages_used() == 0, 500, 0.01, f"{what}: prefill still holds pages before the request")
    cancelled, aborts = prefill_cancelled(), gateway_aborts()
    sock = send({"model": "tiny", "prompt": LONG, "max_tokens": 8, "temperature": 0, "ignore_eos": True, "stream": stream})
    # Leave once prefill holds the prompt's pages (it is computing it), not at a fraction of the
    # first run's time: the host's load can change between the two (a clean-clone run beside a
    # benchmark once finished the second prefill before 0.3 × the first).
    wait_until(lambda: prefill_pages_used() > 0, 1500, 0.01, f"{what}: prefill never took the prompt's pages")
    time.sleep(0.05)
    sock.close()
    settled(what, lambda n: n == 0)
    wait_until(lambda: prefill_cancelled() > cancelled, 100, 0.1, f"{what}: prefill's cancelled count stayed {cancelled}")
    if gateway_aborts() != aborts + 1:
        fail(f"{what}: gateway aborts {gateway_aborts()} != {aborts + 1}")
    print(f"ok: {what}: prefill counted it cancelled, decode dropped it, pages back, gateway counted 499")

# 3. The client leaves a whole (non-streamed) response while decode generates. tiny decodes the
# whole context in a few hundred ms, so the close comes 20 ms after decode takes the request; a
# round whose request ran to its length before the close is tried again (3 rounds at most).
MAX = 4093
for attempt in range(1, 4):
    aborts = gateway_aborts()
    sock = send({"model": "tiny", "prompt": [5, 77, 300], "max_tokens": MAX, "temperature": 0, "ignore_eos": True})
    wait_until(lambda: decode_stats()["active_requests"] == 1, 1000, 0.01, "the long request never became active on decode")
    time.sleep(0.02)
    sock.close()
    latest = settled("whole response, client gone during decode", lambda n: True, cancelled=False)
    if latest["finish_reason"] == "length":
        print(f"round {attempt}: the request ran to its length before the client left; again")
        continue
    if not 0 < latest["generated_tokens"] < MAX:
        fail(f"whole response gone during decode: {latest}")
    if gateway_aborts() != aborts + 1:
        fail(f"whole response gone during decode: gateway aborts {gateway_aborts()} != {aborts + 1}")
    print(f"ok: whole response, client gone during decode: cancelled after {latest['generated_tokens']} of {MAX} tokens, pages back")
    break
else:
    fail("in 3 rounds the long request always finished before the client left")
print("all disconnect checks passed")
