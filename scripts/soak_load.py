#!/usr/bin/env python3
"""scripts/soak's load and watch: mixed requests on a running stack for a set time, RSS and threads
of every daemon each minute, outcomes per kind, and the verdicts that need them (wrong answers,
unexpected failures, RSS growth after the first 5 minutes). Standard library only.

Usage: soak_load.py --minutes M --bin DIR --model NAME --decode HOST:PORT --gateway HOST:PORT
                    --prefill-port P --decode-pid PID --gateway-pid PID --work DIR
Exit 0 when every verdict holds; prints why not otherwise.
"""
import argparse, collections, http.client, json, os, random, subprocess, sys, threading, time

p = argparse.ArgumentParser()
for name in ("bin", "model", "decode", "gateway", "work"):
    p.add_argument("--" + name, required=True)
p.add_argument("--minutes", type=float, required=True)
p.add_argument("--prefill-port", type=int, required=True)
p.add_argument("--decode-pid", type=int, required=True)
p.add_argument("--gateway-pid", type=int, required=True)
p.add_argument("--workers", type=int, default=3)
p.add_argument("--seed", type=int, default=18)
args = p.parse_args()

MAX_NEW = 16                       # tokens per verified request
VOCAB_FOR_PROMPTS = 500            # prompt ids drawn below this (the built-in models' vocabularies are larger)
RSS_SLACK = 1.05                   # allowed growth over the minute-5 sample
rng = random.Random(args.seed)


def run(cmd, timeout):
    """A client process with a hard bound; returns (exit code, stdout, stderr)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return -1, "", f"client still running after {timeout} s (killed)"


# ---- references, computed once before any load: pd-run, the single-process generation -----------
def pd_run(extra):
    code, out, err = run([f"{args.bin}/pd-run", "--model", args.model, "--max-new-tokens", str(MAX_NEW), "--json"] + extra, 600)
    if code != 0:
        sys.exit(f"soak: pd-run {' '.join(extra)} failed: {err.strip()}")
    return json.loads(out)


prompts = [[rng.randrange(3, VOCAB_FOR_PROMPTS) for _ in range(n)] for n in (3, 17, 64, 200, 600, 1500)]
samplings = [  # (temperature, top_k, top_p, seed): seeded sampling is reproducible, so verified too
    (0.8, 0, 1.0, 7), (1.0, 40, 0.9, 123), (0.5, 5, 0.95, 99)]
print(f"soak: references from pd-run ({len(prompts)} greedy prompts of {[len(x) for x in prompts]} tokens, "
      f"{len(samplings)} seeded samplings, one chat)", flush=True)
greedy_ref = [pd_run(["--prompt-ids", ",".join(map(str, ids))]) for ids in prompts]
sampled_ref = {s: pd_run(["--prompt-ids", ",".join(map(str, prompts[1])), "--temperature", str(s[0]), "--top-k", str(s[1]),
                          "--top-p", str(s[2]), "--seed", str(s[3])]) for s in samplings}
chat = [{"role": "system", "content": "You answer in one sentence."}, {"role": "user", "content": "What is a soak test?"}]
with open(os.path.join(args.work, "chat.json"), "w") as f:
    json.dump(chat, f)
chat_ref = pd_run(["--messages", os.path.join(args.work, "chat.json")])
# The logits processors with seeded sampling, and the logprobs asked for (top and the prompt's).
PROCESSORS = ["--temperature", "0.9", "--seed", "5", "--repetition-penalty", "1.3", "--presence-penalty", "0.5",
              "--frequency-penalty", "0.3", "--min-tokens", "4", "--logit-bias", "5:2,9:-100", "--top-logprobs", "3", "--prompt-logprobs", "2"]
processed_ref = pd_run(["--prompt-ids", ",".join(map(str, prompts[2]))] + PROCESSORS)
LONGEST = prompts[-1] + prompts[-2]      # the load's longest prompt (grpc_deadline's; the warm-up's batch)


# ---- the request kinds: each returns (outcome, detail); outcome "wrong" or "unexpected" fails the soak ----
def generate(ids, extra, timeout=120):
    cmd = [f"{args.bin}/pd-client", "generate", "--decode", args.decode, "--prompt-ids", ",".join(map(str, ids)), "--json"] + extra
    code, out, err = run(cmd, timeout)
    try:
        result = json.loads(out)["result"]
    except (ValueError, KeyError):
        result = {"error": (err or out).strip() or f"exit {code}"}
    return code, result


def grpc_greedy():
    i = rng.randrange(len(prompts))
    code, r = generate(prompts[i], ["--max-new-tokens", str(MAX_NEW)])
    if code != 0:
        return "unexpected", f"greedy prompt {len(prompts[i])}: {r.get('error')}"
    return ("ok", "") if r["tokens"] == greedy_ref[i]["tokens"] else \
        ("wrong", f"greedy prompt {len(prompts[i])}: {r['tokens']} != {greedy_ref[i]['tokens']}")


def grpc_sampled():
    s = rng.choice(samplings)
    code, r = generate(prompts[1], ["--max-new-tokens", str(MAX_NEW), "--temperature", str(s[0]), "--top-k", str(s[1]),
                                    "--top-p", str(s[2]), "--seed", str(s[3])])
    if code != 0:
        return "unexpected", f"sampled {s}: {r.get('error')}"
    return ("ok", "") if r["tokens"] == sampled_ref[s]["tokens"] else ("wrong", f"sampled {s}: {r['tokens']}")


def grpc_processed():
    code, r = generate(prompts[2], ["--max-new-tokens", str(MAX_NEW)] + PROCESSORS)
    if code != 0:
        return "unexpected", f"processors: {r.get('error')}"
    want = processed_ref
    close = lambda a, b: abs(a - b) <= 1e-4 * max(1.0, abs(b))
    same = r["tokens"] == want["tokens"] and all(close(a, b) for a, b in zip(r["logprobs"], want["logprobs"])) \
        and len(r.get("prompt_logprobs") or []) == len(want["prompt_logprobs"]) \
        and all(close(a["logprob"], b["logprob"]) for a, b in zip(r["prompt_logprobs"], want["prompt_logprobs"]))
    return ("ok", "") if same else ("wrong", f"processors: {r['tokens']} != {want['tokens']} or logprobs differ")


def grpc_cancel():
    n = rng.randrange(1, 6)
    code, r = generate(prompts[rng.randrange(len(prompts))], ["--max-new-tokens", "400", "--ignore-eos", "--cancel-after-tokens", str(n)])
    if r.get("finish_reason") == "cancelled by client" or (code == 0 and r.get("finish_reason") in ("length", "stop")):
        return "ok", ""
    return "unexpected", f"cancel after {n}: {r}"


def grpc_deadline():
    seconds = rng.choice([0.02, 0.1, 0.3, 1.0])
    # a long prompt, so the deadline often lands in prefill
    code, r = generate(LONGEST, ["--max-new-tokens", "64", "--ignore-eos", "--timeout", str(seconds)], timeout=60)
    error = r.get("error") or ""
    if code == 0 or "DEADLINE_EXCEEDED" in error or "deadline" in error.lower():
        return "ok", ""
    return "unexpected", f"deadline {seconds} s: {error}"


BAD_GRPC = [  # (what, extra args): the daemon must refuse each with a clear error, nothing leaked
    ("id outside the vocabulary", ["--prompt-ids", "3,4,99999999"]),
    ("stop id outside the vocabulary", ["--prompt-ids", "3,4", "--stop-token-ids", "99999999"]),
    ("top-p above 1", ["--prompt-ids", "3,4", "--top-p", "1.5"]),
    ("negative temperature", ["--prompt-ids", "3,4", "--temperature=-1"]),
    ("prompt past the context", ["--prompt-lengths", "200000"]),
    ("presence penalty above 2", ["--prompt-ids", "3,4", "--presence-penalty", "3"]),
    ("biased id outside the vocabulary", ["--prompt-ids", "3,4", "--logit-bias", "99999999:1"]),
    ("top logprobs above 20", ["--prompt-ids", "3,4", "--top-logprobs", "21"]),
    ("prompt logprobs above 20", ["--prompt-ids", "3,4", "--prompt-logprobs", "99"]),
]


def grpc_bad():
    what, extra = rng.choice(BAD_GRPC)
    code, out, err = run([f"{args.bin}/pd-client", "generate", "--decode", args.decode, "--json"] + extra, 60)
    if code not in (0, -1):
        return "refused", ""
    return "unexpected", f"bad gRPC request ({what}) was {'accepted' if code == 0 else 'left hanging'}: {out.strip()[:200]}"


def request_http(method, path, body=None, timeout=120, raw=None):
    host, port = args.gateway.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    return conn, conn.getresponse()


def http_greedy():
    i = rng.randrange(len(prompts) - 1)             # token-id prompts: the reference's exact input
    stream = rng.random() < 0.5
    conn, r = request_http("POST", "/v1/completions", {"model": args.model, "prompt": prompts[i], "max_tokens": MAX_NEW,
                                              "temperature": 0, "stream": stream})
    try:
        if r.status != 200:
            return "unexpected", f"HTTP completion: {r.status} {r.read()[:200]!r}"
        if stream:
            text = ""
            for line in r:
                line = line.decode().strip()
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:])["choices"]
                    text += "".join(c["text"] for c in choices)
        else:
            text = json.load(r)["choices"][0]["text"]
    finally:
        conn.close()
    want = greedy_ref[i]["text"]
    return ("ok", "") if text == want else ("wrong", f"HTTP completion prompt {len(prompts[i])} (stream {stream}): {text!r} != {want!r}")


def http_chat():
    conn, r = request_http("POST", "/v1/chat/completions", {"model": args.model, "messages": chat, "max_tokens": MAX_NEW, "temperature": 0})
    try:
        if r.status != 200:
            return "unexpected", f"HTTP chat: {r.status} {r.read()[:200]!r}"
        text = json.load(r)["choices"][0]["message"]["content"]
    finally:
        conn.close()
    return ("ok", "") if text == chat_ref["text"] else ("wrong", f"HTTP chat: {text!r} != {chat_ref['text']!r}")


def http_disconnect():
    """A streamed completion the client walks away from after the first chunk."""
    conn, r = request_http("POST", "/v1/completions", {"model": args.model, "prompt": prompts[rng.randrange(len(prompts))],
                                              "max_tokens": 400, "ignore_eos": True, "stream": True})
    try:
        if r.status != 200:
            return "unexpected", f"HTTP stream: {r.status}"
        r.readline()
    finally:
        conn.close()
    return "ok", ""


BAD_HTTP = [  # (what, body bytes, expected status)
    ("malformed JSON", b'{"model": "M", "prompt": ', 400),
    ("unknown field", json.dumps({"model": "M", "prompt": "hi", "frobnicate": 1}).encode(), 400),
    ("wrong model", json.dumps({"model": "no-such-model", "prompt": "hi"}).encode(), 404),
    ("max_tokens 0", json.dumps({"model": "M", "prompt": "hi", "max_tokens": 0}).encode(), 400),
    ("id outside the vocabulary", json.dumps({"model": "M", "prompt": [3, 99999999]}).encode(), 400),
]


def http_bad():
    what, body, status = rng.choice(BAD_HTTP)
    conn, r = request_http("POST", "/v1/completions", raw=body.replace(b'"M"', json.dumps(args.model).encode()), timeout=30)
    got = r.status
    r.read()
    conn.close()
    return ("refused", "") if got == status or (400 <= got < 500 and status == 400) else \
        ("unexpected", f"bad HTTP request ({what}): status {got}, expected {status}")


KINDS = [(grpc_greedy, 5), (grpc_sampled, 2), (grpc_processed, 2), (grpc_cancel, 2), (grpc_deadline, 2), (grpc_bad, 1),
         (http_greedy, 4), (http_chat, 1), (http_disconnect, 1), (http_bad, 1)]

# ---- watch: RSS and threads of every daemon ---------------------------------------------------------
def daemons():
    """name → pid: decode, gateway, and each prefill rank (found by its --listen port)."""
    found = {"decode": args.decode_pid, "gateway": args.gateway_pid}
    ranks = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"pd-prefill") and f"127.0.0.1:{args.prefill_port}".encode() in cmd:
            ranks.append(int(entry))
    for i, pid in enumerate(sorted(ranks)):
        found[f"prefill{i}"] = pid
    return found


def sample(pids):
    row = {}
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            row[name] = (int(fields["VmRSS"].split()[0]) // 1024, int(fields["Threads"]))
        except (OSError, KeyError, ValueError):
            row[name] = None                                          # gone: the soak fails on it
    return row


outcomes = collections.Counter()
failures = []
lock = threading.Lock()
stop_at = time.monotonic() + args.minutes * 60


def worker(seed):
    local = random.Random(seed)
    choices, weights = zip(*KINDS)
    while time.monotonic() < stop_at:
        kind = local.choices(choices, weights)[0]
        try:
            outcome, detail = kind()
        except Exception as e:                                         # a client-side surprise is an unexpected outcome
            outcome, detail = "unexpected", f"{kind.__name__}: {type(e).__name__}: {e}"
        with lock:
            outcomes[(kind.__name__, outcome)] += 1
            if outcome in ("wrong", "unexpected") and len(failures) < 50:
                failures.append(detail)
                if len(failures) <= 20:                                # as they happen (the verdict repeats the first 5)
                    print(f"soak: {outcome}: {detail}", flush=True)


pids = daemons()
if len(pids) < 4:
    sys.exit(f"soak: expected decode, gateway and 2 prefill ranks, found {pids}")
print("soak: daemons " + ", ".join(f"{n} pid {p}" for n, p in pids.items()), flush=True)
threads = [threading.Thread(target=worker, args=(args.seed * 100 + i,), daemon=True) for i in range(args.workers)]
start = time.monotonic()
samples = []                                                          # (minute, {name: (rss MiB, threads)})


def report(minute, row):
    samples.append((minute, row))
    cells = "  ".join(f"{n} {v[0]} MiB/{v[1]} thr" if v else f"{n} GONE" for n, v in row.items())
    with lock:
        done = sum(outcomes.values())
        bad = sum(c for (k, o), c in outcomes.items() if o in ("wrong", "unexpected"))
    print(f"[{minute:5.1f} min] {cells}  | requests {done}, failed {bad}", flush=True)


PREFILL_BATCH_TOKENS = 8192        # pd-prefill's default --max-batch-tokens, which the soak's prefill runs with


def warm_up(rounds=2):
    """The heaviest prefill batch the load can make, before the clock starts: the minute-5 RSS baseline
    then holds the daemons' peak working set, and the rule measures memory never given back, not the
    first time the random mix happened to batch its longest prompts together (a busy prefill rank
    keeps step buffers the size of its largest batch; it frees them after 1 s idle, which this load
    never leaves it). Abandoned requests (deadlines, cancels) can still sit in prefill's queue when
    their workers' next requests arrive, so only prefill's budget bounds a batch: a first, longer
    request keeps prefill busy while prompts of the load's longest length (grpc_deadline's), filling
    the budget, arrive and queue; they run as one batch."""
    blocking = (prompts[-1] * 3)[:4000]
    batch = [LONGEST] * (PREFILL_BATCH_TOKENS // len(LONGEST))
    if PREFILL_BATCH_TOKENS % len(LONGEST):
        batch.append(LONGEST[:PREFILL_BATCH_TOKENS % len(LONGEST)])
    for _ in range(rounds):
        results = []
        def one(prompt):
            code, r = generate(prompt, ["--max-new-tokens", "1", "--ignore-eos"], timeout=120)
            with lock:
                results.append((code, r))
        blocker = threading.Thread(target=one, args=(blocking,))
        blocker.start()
        time.sleep(0.05)
        rest = [threading.Thread(target=one, args=(prompt,)) for prompt in batch]
        for t in rest:
            t.start()
        for t in [blocker] + rest:
            t.join()
        bad = [r for code, r in results if code != 0]
        if bad:
            sys.exit(f"soak: warm-up request failed: {bad[0]}")
    print(f"soak: warm-up: {rounds} rounds of a {len(blocking)}-token request, then prompts of "
          f"{[len(x) for x in batch]} tokens at once", flush=True)


warm_up()
report(0.0, sample(pids))
for t in threads:
    t.start()
minute = 1
while any(t.is_alive() for t in threads):
    next_sample = start + minute * 60
    while time.monotonic() < next_sample and any(t.is_alive() for t in threads):
        time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
    if time.monotonic() >= next_sample:
        report(float(minute), sample(pids))
        minute += 1
for t in threads:
    t.join()
time.sleep(2)                                                         # the last requests' epilogues
final = sample(pids)
report((time.monotonic() - start) / 60, final)

# ---- verdicts -------------------------------------------------------------------------------------------
print("soak: outcomes")
for (kind, outcome), count in sorted(outcomes.items()):
    print(f"  {kind:16s} {outcome:10s} {count}")
verdicts = []
if failures:
    verdicts.append(f"{len(failures)} request(s) wrong or failed unexpectedly, first: " + "; ".join(failures[:5]))
gone = [n for n, v in final.items() if v is None]
if gone:
    verdicts.append(f"daemon(s) gone: {', '.join(gone)}")
baseline = next((row for m, row in samples if m >= 5.0), None)
if baseline is None or len([m for m, _ in samples if m > 5.0]) == 0:
    print("soak: shorter than 6 minutes, no RSS-growth verdict (the baseline is the minute-5 sample)")
else:
    for name, base in baseline.items():
        later = [row[name][0] for m, row in samples if m > 5.0 and row.get(name)]
        if base and later:
            growth = max(later) / base[0]
            print(f"soak: {name} RSS {base[0]} MiB at minute 5, at most {max(later)} MiB after ({(growth - 1) * 100:+.1f} %)")
            if growth > RSS_SLACK:
                verdicts.append(f"{name} RSS grew {(growth - 1) * 100:.1f} % after minute 5 ({base[0]} → {max(later)} MiB)")
with open(os.path.join(args.work, "soak.json"), "w") as f:
    json.dump({"samples": samples, "outcomes": {f"{k}/{o}": c for (k, o), c in outcomes.items()}, "failures": failures}, f)
for v in verdicts:
    print(f"FAIL: {v}")
sys.exit(1 if verdicts else 0)
