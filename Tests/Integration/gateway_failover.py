"""Two decodes behind the gateway; one is killed (SIGKILL) while requests run. Requests that already
streamed from it fail; every request started after the kill succeeds through the survivor (the
router drops the dead one on its failed health watch, or retries a request that failed before its
first token on the other instance); the survivor leaks no page. Run by gateway-failover.sh
(env: GATEWAY, DECODES, VICTIM_PID, BIN, MODEL_NAME)."""
import json, os, signal, subprocess, sys, threading, time

import openai, requests
from prometheus_client.parser import text_string_to_metric_families

GATEWAY, BIN, MODEL = os.environ["GATEWAY"], os.environ["BIN"], os.environ["MODEL_NAME"]
victim_target, survivor_target = os.environ["DECODES"].split(",")
victim_pid = int(os.environ["VICTIM_PID"])
client = openai.OpenAI(base_url=f"http://{GATEWAY}/v1", api_key="unused", max_retries=0, timeout=120)


def fail(what):
    print(f"FAIL: {what}", file=sys.stderr)
    sys.exit(1)


def stats(target):
    return json.loads(subprocess.run([f"{BIN}/pd-client", "stats", "--target", target], check=True,
                                     capture_output=True, text=True).stdout)


def run(i, results, max_tokens, prompt=None):
    try:
        got = 0
        for chunk in client.completions.create(model=MODEL, prompt=prompt or f"request {i} says", max_tokens=max_tokens, temperature=0,
                                               stream=True, extra_body={"ignore_eos": True},
                                               stream_options={"include_usage": True}):
            if chunk.usage:
                got = chunk.usage.completion_tokens
        results[i] = ("ok", got)
    except Exception as e:   # a stream cut by the killed decode
        results[i] = ("failed", repr(e)[:200])


# Both instances serve: 8 concurrent long requests spread over them by outstanding work.
before = {t: len(stats(t)["recent"]) for t in (victim_target, survivor_target)}
results = {}
LONG = 3000
threads = [threading.Thread(target=run, args=(i, results, LONG)) for i in range(8)]
for t in threads:
    t.start()
deadline = time.time() + 60
while time.time() < deadline:
    spread = (stats(victim_target)["active_requests"], stats(survivor_target)["active_requests"])
    if sum(spread) == 8:
        break
    time.sleep(0.05)
else:
    fail(f"the 8 requests did not all run: {spread}")
if min(spread) < 3:
    fail(f"least outstanding work should split 8 equal requests about evenly over 2 decodes, got {spread}")
# Requests with long prompts queue at the (slow, one request at a time) prefill: those routed to the
# victim have no token yet when it dies, and must be retried on the survivor.
queued = {}
waiting = [threading.Thread(target=run, args=(200 + i, queued, 8, [(j * 31 + i) % 400 + 5 for j in range(600)]))
           for i in range(4)]
for t in waiting:
    t.start()
deadline = time.time() + 30
while time.time() < deadline:
    victim_active = stats(victim_target)["active_requests"]
    # Tolerance: least-outstanding-work routing decides how many of the 4 land on the victim (it
    # depends on when each decode's Stats were last read); one waiting there is enough to prove the
    # retry (a clean-clone run once saw fewer than two).
    if victim_active >= spread[0] + 1:
        break
    time.sleep(0.02)
else:
    fail("no long-prompt request reached the victim")
os.kill(victim_pid, signal.SIGKILL)
killed_at = time.time()

# New requests right after the kill: every one must succeed.
after = {}
late = [threading.Thread(target=run, args=(100 + i, after, 16)) for i in range(12)]
for t in late:
    t.start()
for t in threads + late + waiting:
    t.join(240)
failed_queued = {i: r for i, r in queued.items() if r[0] != "ok" or r[1] != 8}
if len(queued) != 4 or failed_queued:
    fail(f"queued requests (no token yet at the kill) were not all retried to success: {queued}")
failed_new = {i: r for i, r in after.items() if r[0] != "ok" or r[1] != 16}
if len(after) != 12 or failed_new:
    fail(f"requests after the kill failed: {failed_new} ({len(after)} finished)")
cut = [i for i, r in results.items() if r[0] == "failed"]
done = [i for i, r in results.items() if r[0] == "ok"]
if len(results) != 8:
    fail(f"only {len(results)} of the first 8 requests ended")
if not all(results[i][1] == LONG for i in done):
    fail(f"finished requests short of {LONG} tokens: {results}")
# Only streams on the killed decode may be cut (some of its requests may have finished before the kill).
if not all(victim_target in results[i][1] for i in cut) or len(cut) > spread[0]:
    fail(f"{len(cut)} requests were cut, at most the {spread[0]} on the killed decode may be: {results}")

# The survivor gets its pages back.
for _ in range(100):
    s = stats(survivor_target)
    if s["active_requests"] == 0 and s["free_kv_pages"] == s["total_kv_pages"]:
        break
    time.sleep(0.1)
else:
    fail(f"survivor leaked pages or requests: {s}")
health = requests.get(f"http://{GATEWAY}/health").status_code
if health != 200:
    fail(f"gateway health {health} with one decode alive")
metrics = {f.name: f for f in text_string_to_metric_families(requests.get(f"http://{GATEWAY}/metrics").text)}
retries = sum(s.value for s in metrics["latentserve_request_retries"].samples if s.name.endswith("_total")) \
    if "latentserve_request_retries" in metrics else 0
if retries < victim_active - spread[0]:
    fail(f"{retries} retries, expected at least the {victim_active - spread[0]} requests waiting on the victim")
print(f"ok: spread before the kill {spread[0]} + {spread[1]} active; of 8 running requests {len(cut)} were cut with the "
      f"killed decode and {len(done)} finished; 12 requests sent right after the kill all succeeded; "
      f"{victim_active - spread[0]} requests waiting at prefill for the victim were retried on the survivor and finished "
      f"({retries:.0f} retries in all); survivor: all {s['total_kv_pages']} pages free")
