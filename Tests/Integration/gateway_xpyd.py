"""The OpenAI SDK through gateway → 2 decodes → 2 prefills, every answer equal to `pd-run`'s greedy
generation (the in-process reference: no gateway, no daemons) for the same prompt or messages.
Run by gateway-xpyd.sh (env: GATEWAY, DECODE_METRICS, PREFILL_METRICS, BIN, WORK)."""
import concurrent.futures, json, os, subprocess, sys

import openai, requests
from prometheus_client.parser import text_string_to_metric_families

GATEWAY, BIN, WORK = os.environ["GATEWAY"], os.environ["BIN"], os.environ["WORK"]
DECODES, PREFILL_METRICS = os.environ["DECODE_METRICS"].split(","), os.environ["PREFILL_METRICS"].split(",")
client = openai.OpenAI(base_url=f"http://{GATEWAY}/v1", api_key="unused", max_retries=0)
FINISH = {"eos": "stop", "stop": "stop", "length": "length"}   # pd-run's reasons as OpenAI's


def fail(what):
    print(f"FAIL: {what}", file=sys.stderr)
    sys.exit(1)


def pd_run(max_tokens, prompt=None, messages=None):
    """pd-run's greedy generation: (text, finish_reason, prompt tokens, completion tokens)."""
    args = [f"{BIN}/pd-run", "--model", "tiny", "--max-new-tokens", str(max_tokens), "--json"]
    if prompt is not None:
        args += ["--prompt", prompt]
    else:
        path = f"{WORK}/messages-{abs(hash(json.dumps(messages)))}.json"
        json.dump(messages, open(path, "w"))
        args += ["--messages", path]
    out = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    return out["text"], FINISH[out["finish_reason"]], len(out["prompt_ids"]), len(out["tokens"])


def completion(prompt, max_tokens, stream):
    if not stream:
        r = client.completions.create(model="tiny", prompt=prompt, max_tokens=max_tokens, temperature=0)
        return r.choices[0].text, r.choices[0].finish_reason, r.usage.prompt_tokens, r.usage.completion_tokens
    text, reason, usage = "", None, None
    for chunk in client.completions.create(model="tiny", prompt=prompt, max_tokens=max_tokens, temperature=0, stream=True,
                                           stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for c in chunk.choices:
            text += c.text
            reason = c.finish_reason or reason
    return text, reason, usage.prompt_tokens, usage.completion_tokens


def chat(messages, max_tokens, stream):
    if not stream:
        r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=max_tokens, temperature=0)
        return r.choices[0].message.content, r.choices[0].finish_reason, r.usage.prompt_tokens, r.usage.completion_tokens
    text, reason, usage = "", None, None
    for chunk in client.chat.completions.create(model="tiny", messages=messages, max_completion_tokens=max_tokens,
                                                temperature=0, stream=True, stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for c in chunk.choices:
            text += c.delta.content or ""
            reason = c.finish_reason or reason
    return text, reason, usage.prompt_tokens, usage.completion_tokens


def total(address, name, **labels):
    """The sum of a counter's samples on a daemon's /metrics that carry `labels`."""
    return sum(s.value for family in text_string_to_metric_families(requests.get(f"http://{address}/metrics").text)
               for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def served(address):
    return total(address, "latentserve_decode_requests_total")


def prefilled(address):
    return total(address, "latentserve_prefill_requests_total", outcome="done")


prompts = ["The quick brown fox", "Hello, world! Tell me", "1 2 3 4 5", "abc def ghi jkl", "你好，世界 café"]
conversations = [
    [{"role": "user", "content": "Hi there"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Count to three"}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "More"}],
]
cases = [(completion, p, 20) for p in prompts] + [(chat, m, 16) for m in conversations]
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    references = list(pool.map(lambda c: pd_run(c[2], **({"prompt": c[1]} if c[0] is completion else {"messages": c[1]})),
                               cases))
before = [served(d) for d in DECODES], [prefilled(p) for p in PREFILL_METRICS]
jobs = [(case, ref, stream) for case, ref in zip(cases, references) for stream in (False, True)]
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(lambda j: j[0][0](j[0][1], j[0][2], j[2]), jobs))
for (case, ref, stream), got in zip(jobs, answers):
    if got != ref:
        fail(f"{case[0].__name__} {case[1]!r} ({'streamed' if stream else 'whole'}): gateway {got} != pd-run {ref}")
print(f"ok: {len(jobs)} concurrent requests ({len(prompts)} completions, {len(conversations)} chats, whole and streamed) "
      f"equal pd-run's text, finish_reason and usage")
decoded = [served(d) - b for d, b in zip(DECODES, before[0])]
prefills = [prefilled(p) - b for p, b in zip(PREFILL_METRICS, before[1])]
if sum(decoded) != len(jobs) or min(decoded) == 0:
    fail(f"requests per decode {decoded}, expected {len(jobs)} over both")
if sum(prefills) != len(jobs) or min(prefills) == 0:
    fail(f"requests per prefill {prefills}, expected {len(jobs)} over both")
print(f"ok: requests per decode {decoded}, per prefill {prefills}")
