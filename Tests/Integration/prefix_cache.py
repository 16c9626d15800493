"""Prefix caching through two OpenAI-compatible gateways: CACHED (prefill with automatic prefix caching,
--enable-prompt-tokens-details) and PLAIN (prefill without it, usage without details)."""
import os
import openai
import requests
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

PAGE = int(os.environ["PAGE"])
cached = OpenAI(base_url=f"http://{os.environ['CACHED']}/v1", api_key="unused", max_retries=0, timeout=120)
plain = OpenAI(base_url=f"http://{os.environ['PLAIN']}/v1", api_key="unused", max_retries=0, timeout=120)
checks = 0


def check(condition, what):
    global checks
    assert condition, what
    checks += 1


def counters(port):
    out = {}
    for family in text_string_to_metric_families(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text):
        for s in family.samples:
            if not s.labels:
                out[s.name] = s.value
    return out


def chat(client, messages, salt=None, **kw):
    extra = {"ignore_eos": True} | ({"cache_salt": salt} if salt is not None else {})
    return client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, temperature=0, extra_body=extra, **kw)


def reusable(prompt_tokens):
    """What a repeat of a prompt reuses: its full pages before the last token."""
    return (prompt_tokens - 1) // PAGE * PAGE


sent_prompt_tokens = 0     # through CACHED, for the prefill's query counter
reported_cached = 0        # cached_tokens CACHED reported, for its hit counter
before = counters(os.environ["PREFILL_METRICS"])


def cached_chat(messages, **kw):
    global sent_prompt_tokens, reported_cached
    reply = chat(cached, messages, **kw)
    sent_prompt_tokens += reply.usage.prompt_tokens
    reported_cached += reply.usage.prompt_tokens_details.cached_tokens
    return reply


system = " ".join(f"Rule {i}: answer briefly and say which city you mean." for i in range(12))
first = [{"role": "system", "content": system}, {"role": "user", "content": "What is the weather like in Paris today?"}]
want = chat(plain, first)
check(want.usage.prompt_tokens_details is None, "without --enable-prompt-tokens-details usage has no prompt_tokens_details")
a = cached_chat(first)
n = a.usage.prompt_tokens
check(n > 3 * PAGE, f"the prompt spans several pages ({n} tokens)")
check(a.usage.prompt_tokens_details.cached_tokens == 0, f"a first prompt reuses nothing: {a.usage}")
check(a.choices[0].message.content == want.choices[0].message.content, "first reply equals the uncached stack's")
b = cached_chat(first)
check(b.usage.prompt_tokens_details.cached_tokens == reusable(n),
      f"a repeat reuses every full page before its last token: {b.usage.prompt_tokens_details.cached_tokens} of {n}")
check(b.choices[0].message.content == want.choices[0].message.content, "the repeat's reply equals the uncached stack's")

# A second turn: the conversation so far is its prefix.
second = first + [{"role": "assistant", "content": a.choices[0].message.content},
                  {"role": "user", "content": "And in Lyon, tomorrow morning?"}]
x, y = cached_chat(second), chat(plain, second)
hit = x.usage.prompt_tokens_details.cached_tokens
check(hit % PAGE == 0 and 0 < hit <= reusable(x.usage.prompt_tokens), f"the second turn reuses the first turn's pages: {hit}")
check(hit >= n // PAGE * PAGE - PAGE, f"...nearly all of them: {hit} of the first turn's {n} tokens")
check(x.choices[0].message.content == y.choices[0].message.content, "second-turn reply equals the uncached stack's")

# Streamed, with usage at the end.
chunks = list(cached.chat.completions.create(model="tiny", messages=second, max_tokens=12, temperature=0, stream=True,
                                             stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
usage = chunks[-1].usage
sent_prompt_tokens += usage.prompt_tokens
reported_cached += usage.prompt_tokens_details.cached_tokens
check(usage.prompt_tokens_details.cached_tokens == reusable(usage.prompt_tokens), f"streamed repeat: {usage}")
check("".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == y.choices[0].message.content,
      "streamed reply equals the uncached stack's")

# prompt_logprobs needs every position's logits: nothing reused, the logprobs equal the uncached stack's.
text = system + " Which city?"
for attempt in range(2):
    p = cached.completions.create(model="tiny", prompt=text, max_tokens=4, temperature=0, extra_body={"prompt_logprobs": 1})
    q = plain.completions.create(model="tiny", prompt=text, max_tokens=4, temperature=0, extra_body={"prompt_logprobs": 1})
    sent_prompt_tokens += p.usage.prompt_tokens
    check(p.usage.prompt_tokens_details.cached_tokens == 0, f"prompt_logprobs request {attempt}: nothing reused")
    got, ref = p.choices[0].prompt_logprobs, q.choices[0].prompt_logprobs
    check(len(got) == len(ref) == p.usage.prompt_tokens, "one prompt logprob entry per prompt token")
    worst = max(abs(next(iter(g.values()))["logprob"] - next(iter(r.values()))["logprob"])
                for g, r in zip(got[1:], ref[1:]))
    check(worst < 1e-3, f"prompt logprobs equal the uncached stack's (worst difference {worst})")
    check(p.choices[0].text == q.choices[0].text, "prompt_logprobs reply equals the uncached stack's")

# vLLM's cache_salt: a prompt reuses only pages cached under its own salt.
salted = [{"role": "system", "content": "Salted. " + system}, {"role": "user", "content": "Hello?"}]
reference = chat(plain, salted, salt="tenant-a").choices[0].message.content
for salt, reuses in (("tenant-a", False), ("tenant-a", True), ("tenant-b", False), (None, False)):
    r = cached_chat(salted, salt=salt)
    want_hit = reusable(r.usage.prompt_tokens) if reuses else 0
    check(r.usage.prompt_tokens_details.cached_tokens == want_hit,
          f"salt {salt}: cached_tokens {r.usage.prompt_tokens_details.cached_tokens}, expected {want_hit}")
    check(r.choices[0].message.content == reference, f"salt {salt}: reply equals the uncached stack's")
try:
    chat(cached, salted, salt="")
    check(False, "an empty cache_salt is refused")
except openai.BadRequestError as e:
    check("cache_salt" in str(e), f"an empty cache_salt is a 400 naming it: {e}")

# n = 3 choices of a new prompt reach the prefill as three requests at once: it computes the prompt's
# pages once; the choices behind the first wait for them (or come after) and reuse them.
fresh = [{"role": "system", "content": "Three answers. " + system}, {"role": "user", "content": "Which city is it?"}]
mid = counters(os.environ["PREFILL_METRICS"])
three = chat(cached, fresh, n=3)
m = three.usage.prompt_tokens
end = counters(os.environ["PREFILL_METRICS"])
three_hits = end["latentserve_prefill_prefix_cache_hits_total"] - mid["latentserve_prefill_prefix_cache_hits_total"]
check(three_hits == 2 * reusable(m), f"n = 3: two choices reused the first's {reusable(m)} tokens, hits {three_hits}")
check(three.usage.prompt_tokens_details.cached_tokens in (0, reusable(m)), f"n = 3 usage (choice 0's): {three.usage}")
reference = chat(plain, fresh).choices[0].message.content
check([c.message.content for c in three.choices] == [reference] * 3, "n = 3 greedy choices equal the uncached reply")
sent_prompt_tokens += 3 * m
reported_cached += three_hits   # usage counts the prompt once; the counters count each choice

# More distinct prompts than the cache holds: earlier pages are evicted, every reply stays exact.
for i in range(7):
    other = [{"role": "system", "content": f"Topic {i}. " + system}, {"role": "user", "content": f"Question {i}?"}]
    check(cached_chat(other).choices[0].message.content == chat(plain, other).choices[0].message.content,
          f"distinct prompt {i} under eviction")
again = cached_chat(first)
check(again.choices[0].message.content == want.choices[0].message.content, "the first prompt after eviction")
check(again.usage.prompt_tokens_details.cached_tokens < reusable(n), "the first prompt's pages were evicted (partly)")

after = counters(os.environ["PREFILL_METRICS"])
queries = after["latentserve_prefill_prefix_cache_queries_total"] - before.get("latentserve_prefill_prefix_cache_queries_total", 0)
hits = after["latentserve_prefill_prefix_cache_hits_total"] - before.get("latentserve_prefill_prefix_cache_hits_total", 0)
check(queries == sent_prompt_tokens, f"prefix_cache_queries counted every prompt token: {queries} vs {sent_prompt_tokens}")
check(hits == reported_cached, f"prefix_cache_hits equal the cached_tokens reported: {hits} vs {reported_cached}")
check(0 < after["latentserve_prefill_prefix_cache_pages"] <= int(os.environ["CACHE_TOKENS"]) // PAGE, f"pages held: {after['latentserve_prefill_prefix_cache_pages']}")
plain_after = counters(os.environ["PLAIN_PREFILL_METRICS"])
check(plain_after.get("latentserve_prefill_prefix_cache_hits_total", 0) == 0, "the prefill without prefix caching reuses nothing")
print(f"ok: {checks} prefix-cache checks; a repeat reused {b.usage.prompt_tokens_details.cached_tokens} of {n} tokens, "
      f"the second turn {hit} of {x.usage.prompt_tokens}; hit rate {hits / queries:.2f} over {int(queries)} prompt tokens")
