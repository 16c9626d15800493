"""The gateway through the real `openai` SDK, checked against an independent reference: prompt ids
from HF `tokenizers` (plain prompts) or jinja2 rendering as transformers does (chats), the same ids
sent straight to decode with `pd-client generate --json`, and the generated ids decoded by HF
`tokenizers`. Run by gateway-openai.sh (env: GATEWAY, DECODE, BIN, MODEL_DIR, MODEL_NAME)."""
import datetime, ipaddress, json, os, re, socket, subprocess, sys, tempfile, time, typing, uuid

import jsonschema, openai, pydantic, requests

import chat_reference
from prometheus_client.parser import text_string_to_metric_families
from tokenizers import Tokenizer

GATEWAY, DECODE, BIN = os.environ["GATEWAY"], os.environ["DECODE"], os.environ["BIN"]
MODEL_DIR, MODEL = os.environ["MODEL_DIR"], os.environ["MODEL_NAME"]
tok = Tokenizer.from_file(f"{MODEL_DIR}/tokenizer.json")
config = json.load(open(f"{MODEL_DIR}/tokenizer_config.json"))
context = json.load(open(f"{MODEL_DIR}/config.json"))["max_position_embeddings"]
client = openai.OpenAI(base_url=f"http://{GATEWAY}/v1", api_key="unused", max_retries=0)
sent = {"completions": {}, "chat_completions": {}}   # endpoint -> finish_reason -> count (HTTP 200)
errors = {}                                          # status -> count
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def count(endpoint, reason):
    sent[endpoint][reason] = sent[endpoint].get(reason, 0) + 1


def render_chat(messages):
    return chat_reference.render_chat(config, messages)


def reference(ids, max_tokens, ignore_eos=False):
    """Decode's own answer for these prompt ids (greedy) via pd-client, and its text by HF tokenizers."""
    cmd = [f"{BIN}/pd-client", "generate", "--decode", DECODE, "--prompt-ids", ",".join(map(str, ids)),
           "--max-new-tokens", str(max_tokens), "--json"] + (["--ignore-eos"] if ignore_eos else [])
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    tokens, reason = out["result"]["tokens"], out["result"]["finish_reason"]
    # No stop ids or strings here: a "stop" is the model's EOS, which has no stop_reason (vLLM's contract).
    check(reason in ("stop", "length") and "stop_reason" not in out["result"], f"pd-client reference {out['result']}")
    return tokens, tok.decode(tokens, skip_special_tokens=True), reason


ABSENT = "(absent)"


def stop_reason(choice):
    """vLLM's stop_reason field of a choice (an extra field for the openai client), or ABSENT."""
    return (choice.model_extra or {}).get("stop_reason", ABSENT)


def stream_completion(**kwargs):
    """Text, finish reasons, usage and chunk count of a streamed completion; `stream_completion.stop_reasons`:
    the stop_reason of each finishing chunk. As vLLM streams completions, every other chunk has stop_reason null."""
    text, reasons, usage, chunks = "", [], None, 0
    stream_completion.stop_reasons = []
    for chunk in client.completions.create(stream=True, **kwargs):
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.text
            if c.finish_reason:
                reasons.append(c.finish_reason)
                stream_completion.stop_reasons.append(stop_reason(c))
            else:
                check(stop_reason(c) is None, f"unfinished completion chunk with stop_reason {stop_reason(c)!r}")
    return text, reasons, usage, chunks


# 1. Completions from text, whole and streamed, equal the reference.
prompts = ["The quick brown fox", "Hello, world! Tell me", "1 2 3 4 5", "abc def ghi jkl"]
for prompt in prompts:
    ids = tok.encode(prompt).ids
    for max_tokens in (24,):
        ref_tokens, ref_text, ref_reason = reference(ids, max_tokens)
        r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0)
        check(r.object == "text_completion" and r.id.startswith("cmpl-") and r.model == MODEL and r.created > 0, f"shape {r}")
        check(r.choices[0].text == ref_text, f"completion text {r.choices[0].text!r} != reference {ref_text!r} ({prompt!r})")
        check(r.choices[0].finish_reason == ref_reason, f"finish {r.choices[0].finish_reason} != {ref_reason}")
        check(r.usage.prompt_tokens == len(ids) and r.usage.completion_tokens == len(ref_tokens)
              and r.usage.total_tokens == len(ids) + len(ref_tokens), f"usage {r.usage} vs {len(ids)}+{len(ref_tokens)}")
        count("completions", ref_reason)
        text, reasons, usage, chunks = stream_completion(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                                         stream_options={"include_usage": True})
        check(text == ref_text and reasons == [ref_reason], f"streamed {text!r} {reasons} != {ref_text!r} {ref_reason}")
        check(usage is not None and usage.prompt_tokens == len(ids) and usage.completion_tokens == len(ref_tokens), f"stream usage {usage}")
        check(chunks >= 2, f"only {chunks} chunks")
        count("completions", ref_reason)
print(f"ok: {len(prompts)} text completions (whole + streamed) equal pd-client + HF tokenizers")

# Token-id prompts and a list of strings (one choice each).
ids = [5, 77, 300, 12, 9]
ref_tokens, ref_text, ref_reason = reference(ids, 10)
r = client.completions.create(model=MODEL, prompt=ids, max_tokens=10, temperature=0)
check(r.choices[0].text == ref_text and r.usage.prompt_tokens == 5, f"token-id prompt {r}")
count("completions", ref_reason)
r = client.completions.create(model=MODEL, prompt=prompts[:2], max_tokens=8, temperature=0)
check(len(r.choices) == 2 and [c.index for c in r.choices] == [0, 1], f"list prompt {r}")
for i, c in enumerate(r.choices):
    check(c.text == reference(tok.encode(prompts[i]).ids, 8)[1], f"list prompt choice {i}")
    count("completions", c.finish_reason)
# vLLM's add_special_tokens (completions default true: BOS) and truncate_prompt_tokens (the last k).
bare = tok.encode(prompts[0], add_special_tokens=False).ids
check(bare != tok.encode(prompts[0]).ids, "the tokenizer adds nothing: the check below would not see add_special_tokens")
r = client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=8, temperature=0, extra_body={"add_special_tokens": False})
check(r.usage.prompt_tokens == len(bare) and r.choices[0].text == reference(bare, 8)[1], f"add_special_tokens false: {r}")
count("completions", r.choices[0].finish_reason)
full = tok.encode(prompts[1]).ids
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=8, temperature=0, extra_body={"truncate_prompt_tokens": 5})
check(len(full) > 5 and r.usage.prompt_tokens == 5 and r.choices[0].text == reference(full[-5:], 8)[1], f"truncate_prompt_tokens: {r}")
count("completions", r.choices[0].finish_reason)
print("ok: token-id prompt, list of prompts, add_special_tokens, truncate_prompt_tokens")

# 2. Chat completions.
conversations = [
    [{"role": "user", "content": "Hi there"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Count to three"}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "More"}],
]
for messages in conversations:
    ids = tok.encode(render_chat(messages), add_special_tokens=False).ids
    ref_tokens, ref_text, ref_reason = reference(ids, 20)
    r = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=20, temperature=0)
    check(r.object == "chat.completion" and r.id.startswith("chatcmpl-"), f"chat shape {r}")
    check(r.choices[0].message.role == "assistant" and r.choices[0].message.content == ref_text,
          f"chat text {r.choices[0].message.content!r} != {ref_text!r}")
    check(r.choices[0].finish_reason == ref_reason and r.usage.prompt_tokens == len(ids)
          and r.usage.completion_tokens == len(ref_tokens), f"chat usage/finish {r}")
    count("chat_completions", ref_reason)
    check(stop_reason(r.choices[0]) is None, f"chat stop_reason {stop_reason(r.choices[0])!r}: no stop ids or strings given")
    text, reasons, usage, roles = "", [], None, []
    for chunk in client.chat.completions.create(model=MODEL, messages=messages, max_completion_tokens=20, temperature=0,
                                                stream=True, stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for c in chunk.choices:
            text += c.delta.content or ""
            if c.delta.role:
                roles.append(c.delta.role)
            if c.finish_reason:
                reasons.append(c.finish_reason)
                check(stop_reason(c) is None, f"finishing chat chunk stop_reason {stop_reason(c)!r}")
            else:
                check(stop_reason(c) == ABSENT, "vLLM sends stop_reason on the finishing chat chunk only")
    check(text == ref_text and reasons == [ref_reason] and roles == ["assistant"], f"chat stream {text!r} {reasons} {roles}")
    check(usage.completion_tokens == len(ref_tokens) and usage.prompt_tokens == len(ids), f"chat stream usage {usage}")
    count("chat_completions", ref_reason)
print(f"ok: {len(conversations)} chat completions (whole + streamed) equal jinja2 + pd-client + HF tokenizers")
# vLLM's continue_final_message: the assistant's reply begun by the client is continued — the prompt is
# the rendering cut right after that message's content (transformers' rule, chat_reference), no end of turn.
begun = [{"role": "user", "content": "Count to three"}, {"role": "assistant", "content": "One, two"}]
continued = chat_reference.render_chat(config, begun, add_generation_prompt=False, continue_final_message=True)
closed = chat_reference.render_chat(config, begun, add_generation_prompt=False)
check(continued.endswith("One, two") and closed.startswith(continued) and len(closed) > len(continued),
      f"continued prompt {continued!r} vs the closed turn {closed!r}")
ids = tok.encode(continued, add_special_tokens=False).ids
ref_tokens, ref_text, ref_reason = reference(ids, 12)
open_turn = {"continue_final_message": True, "add_generation_prompt": False}
r = client.chat.completions.create(model=MODEL, messages=begun, max_tokens=12, temperature=0, extra_body=open_turn)
check(r.choices[0].message.content == ref_text and r.usage.prompt_tokens == len(ids), f"continue_final_message {r}")
count("chat_completions", ref_reason)
check(requests.post(f"http://{GATEWAY}/tokenize", json={"messages": begun, **open_turn}).json()["tokens"] == ids,
      "/tokenize with continue_final_message")
with_bos = tok.encode(continued, add_special_tokens=True).ids
check(len(with_bos) > len(ids) and requests.post(f"http://{GATEWAY}/tokenize", json={"messages": begun, **open_turn,
      "add_special_tokens": True}).json()["tokens"] == with_bos, "chat add_special_tokens: BOS on top of the template's")
# vLLM's chat echo: the reply starts with the last message's content when that message has the reply's
# role (with add_generation_prompt false, the last message's): the begun reply comes back whole.
r = client.chat.completions.create(model=MODEL, messages=begun, max_tokens=12, temperature=0, extra_body={**open_turn, "echo": True})
check(r.choices[0].message.role == "assistant" and r.choices[0].message.content == "One, two" + ref_text
      and r.usage.completion_tokens == len(ref_tokens), f"chat echo {r}")
count("chat_completions", ref_reason)
pieces, roles = [], []
for chunk in client.chat.completions.create(model=MODEL, messages=begun, max_tokens=12, temperature=0, stream=True,
                                            extra_body={**open_turn, "echo": True}):
    for c in chunk.choices:
        pieces.append(c.delta.content or "")
        roles += [c.delta.role] if c.delta.role else []
check("".join(pieces) == "One, two" + ref_text and roles == ["assistant"], f"streamed chat echo {pieces} {roles}")
count("chat_completions", ref_reason)
# The last message is the user's and the reply the assistant's: nothing to echo.
plain_ids = tok.encode(render_chat(conversations[0]), add_special_tokens=False).ids
r = client.chat.completions.create(model=MODEL, messages=conversations[0], max_tokens=6, temperature=0, extra_body={"echo": True})
check(r.choices[0].message.content == reference(plain_ids, 6)[1], f"chat echo of another role's message {r}")
count("chat_completions", r.choices[0].finish_reason)
# Without the generation prompt the reply's role is the last message's (vLLM).
r = client.chat.completions.create(model=MODEL, messages=conversations[0], max_tokens=2, temperature=0,
                                   extra_body={"add_generation_prompt": False})
check(r.choices[0].message.role == "user", f"reply role without the generation prompt: {r.choices[0].message.role}")
count("chat_completions", r.choices[0].finish_reason)
print("ok: continue_final_message continues the final assistant message (chat and /tokenize equal jinja2 + transformers' cut); "
      "chat echo returns it whole (whole and streamed), the reply's role as vLLM")

# 3. Stop strings: the text ends right before the first occurrence, finish_reason stop.
prompt = prompts[0]
ids = tok.encode(prompt).ids
ref_tokens, ref_text, _ = reference(ids, 40, ignore_eos=True)
# A stop of plain ASCII from the middle of the reference text (random weights also emit bytes that
# decode to U+FFFD: not a realistic stop string).
stop = next(ref_text[i:i + 2] for i in range(2, len(ref_text) - 2)
            if ref_text[i:i + 2].isascii() and ref_text[i:i + 2].isprintable() and ref_text[i:i + 2].strip())
want = ref_text[:ref_text.find(stop)]
r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=3000, temperature=0, stop=[stop, "\x00never"],
                              extra_body={"ignore_eos": True})
check(r.choices[0].text == want and r.choices[0].finish_reason == "stop" and stop_reason(r.choices[0]) == stop,
      f"stop {stop!r}: {r.choices[0].text!r} != {want!r} or stop_reason {stop_reason(r.choices[0])!r}")
# Tokens generated until the stop shows: text is released (as vLLM's detokenizer does) only when it
# does not end in U+FFFD (an incomplete character), so a stop can show a token or two after its last byte.
def released(k):
    return next(tok.decode(ref_tokens[:j], skip_special_tokens=True) for j in range(k, -1, -1)
                if not tok.decode(ref_tokens[:j], skip_special_tokens=True).endswith("\ufffd"))
k = next(k for k in range(1, len(ref_tokens) + 1) if stop in released(k))
check(r.usage.completion_tokens == k, f"stop {stop!r}: completion_tokens {r.usage.completion_tokens} != {k}; "
      f"{[(t, tok.decode(ref_tokens[:j + 1], skip_special_tokens=True)[-6:]) for j, t in enumerate(ref_tokens[:12])]}")
count("completions", "stop")
recent = json.loads(subprocess.run([f"{BIN}/pd-client", "stats", "--target", DECODE], check=True, capture_output=True,
                                   text=True).stdout)["recent"][0]
check(recent["finish_reason"] == "cancelled" and recent["generated_tokens"] < 3000,
      f"the stop string did not cancel the decode call: {recent}")
text, reasons, usage, _ = stream_completion(model=MODEL, prompt=prompt, max_tokens=40, temperature=0, stop=stop,
                                            extra_body={"ignore_eos": True}, stream_options={"include_usage": True})
check(text == want and reasons == ["stop"] and stream_completion.stop_reasons == [stop],
      f"streamed stop: {text!r} {reasons} {stream_completion.stop_reasons}")
count("completions", "stop")
# stop_token_ids: the first token of the reference that is not at position 0 ends it (finish stop).
stop_id = ref_tokens[3]
first = ref_tokens.index(stop_id)
r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=40, temperature=0,
                              extra_body={"ignore_eos": True, "stop_token_ids": [stop_id]})
check(r.choices[0].finish_reason == "stop" and stop_reason(r.choices[0]) == stop_id and r.usage.completion_tokens == first + 1,
      f"stop_token_ids {r}")
# As vLLM: the stop id's own text is not part of the completion, unless include_stop_str_in_output.
check(r.choices[0].text == tok.decode(ref_tokens[:first], skip_special_tokens=True), f"stop id text {r.choices[0].text!r}")
count("completions", "stop")
r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=40, temperature=0,
                              extra_body={"ignore_eos": True, "stop_token_ids": [stop_id], "include_stop_str_in_output": True})
check(r.choices[0].text == tok.decode(ref_tokens[:first + 1], skip_special_tokens=True), f"stop id kept {r.choices[0].text!r}")
count("completions", "stop")
r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=40, temperature=0, stop=[stop],
                              extra_body={"ignore_eos": True, "include_stop_str_in_output": True})
check(r.choices[0].text == want + stop and stop_reason(r.choices[0]) == stop, f"stop string kept {r.choices[0].text!r}")
count("completions", "stop")
print(f"ok: stop string {stop!r} and stop_token_ids end the text with finish_reason stop, stop_reason the string / the id")

# 4. EOS: a prompt whose greedy continuation reaches the EOS ends with finish_reason stop, short of
# max_tokens; with ignore_eos it runs to the length.
eos_case = None
for n in range(1, 60):
    ids = [(i * 7919 + n * 104729 + 13) % 256 for i in range(n)]
    tokens, text, reason = reference(ids, 64)
    if reason == "stop" and len(tokens) < 64:
        eos_case = (ids, tokens, text)
        break
check(eos_case is not None, "no prompt of the 59 tried reaches EOS in 64 greedy tokens")
ids, tokens, text = eos_case
text_s, reasons, usage, _ = stream_completion(model=MODEL, prompt=ids, max_tokens=64, temperature=0,
                                              stream_options={"include_usage": True})
check(text_s == text and reasons == ["stop"] and stream_completion.stop_reasons == [None] and usage.completion_tokens == len(tokens),
      f"eos stream {reasons} {stream_completion.stop_reasons} {usage}")
count("completions", "stop")
r = client.completions.create(model=MODEL, prompt=ids, max_tokens=64, temperature=0)
check(r.choices[0].finish_reason == "stop" and stop_reason(r.choices[0]) is None and r.usage.completion_tokens == len(tokens),
      f"eos whole {r}")
count("completions", "stop")
r = client.completions.create(model=MODEL, prompt=ids, max_tokens=64, temperature=0, extra_body={"ignore_eos": True})
check(r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 64, f"ignore_eos {r}")
count("completions", "length")
# skip_special_tokens false: special tokens' text stays in, but the EOS that ended the text does not (vLLM).
r = client.completions.create(model=MODEL, prompt=ids, max_tokens=64, temperature=0, extra_body={"skip_special_tokens": False})
check(r.choices[0].text == tok.decode(tokens[:-1], skip_special_tokens=False), f"skip_special_tokens false {r.choices[0].text!r}")
count("completions", "stop")
print(f"ok: EOS after {len(tokens)} tokens ends the completion (whole and streamed) with finish_reason stop, stop_reason null; "
      "ignore_eos runs to the length")

# 4b. Logprobs and the logits processors, against pd-run on the same prompt ids (pd-run's logprobs and
# processors equal transformers': LogitsProcessorGoldenTests); token strings from HF tokenizers.
BYTE_OF = {}
_printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
_n = 0
for b in range(256):   # GPT-2's bytes_to_unicode, inverted
    if b in _printable:
        BYTE_OF[chr(b)] = b
    else:
        BYTE_OF[chr(256 + _n)] = b
        _n += 1
added = set(tok.get_added_tokens_decoder())


def token_bytes(i):
    piece = tok.id_to_token(i)
    if i not in added and all(ch in BYTE_OF for ch in piece):
        return [BYTE_OF[ch] for ch in piece]
    return list(tok.decode([i], skip_special_tokens=False).encode())


def pd_run(ids, max_tokens, *flags):
    cmd = [f"{BIN}/pd-run", "--model", MODEL_DIR, "--prompt-ids", ",".join(map(str, ids)), "--max-new-tokens", str(max_tokens),
           "--json", *flags]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def close(a, b):
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


messages = conversations[1]
ids = tok.encode(render_chat(messages), add_special_tokens=False).ids
run = pd_run(ids, 12, "--top-logprobs", "5", "--ignore-eos")
r = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0, logprobs=True, top_logprobs=5,
                                   extra_body={"ignore_eos": True})
content = r.choices[0].logprobs.content
check(len(content) == len(run["tokens"]) == 12, f"chat logprobs: {len(content)} entries for {len(run['tokens'])} tokens")
for entry, token, logprob, top in zip(content, run["tokens"], run["logprobs"], run["top_logprobs"]):
    check(entry.token == tok.decode([token], skip_special_tokens=False) and close(entry.logprob, logprob)
          and entry.bytes == token_bytes(token), f"chat logprob entry {entry} vs token {token} {logprob}")
    check([t.token for t in entry.top_logprobs] == [tok.decode([t["token_id"]], skip_special_tokens=False) for t in top]
          and all(close(t.logprob, u["logprob"]) for t, u in zip(entry.top_logprobs, top))
          and [t.bytes for t in entry.top_logprobs] == [token_bytes(t["token_id"]) for t in top], f"chat top_logprobs {entry.top_logprobs} vs {top}")
check(bytes(b for e in content for b in e.bytes).decode("utf-8", "replace") == tok.decode(run["tokens"], skip_special_tokens=False),
      "the tokens' bytes join into the text")
check(r.choices[0].message.content == run["text"], f"chat text with logprobs {r.choices[0].message.content!r} != {run['text']!r}")
count("chat_completions", r.choices[0].finish_reason)
streamed = []
for chunk in client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0, logprobs=True,
                                            top_logprobs=2, stream=True, extra_body={"ignore_eos": True}):
    for c in chunk.choices:
        streamed += c.logprobs.content if c.logprobs and c.logprobs.content else []
check([(e.token, e.logprob, [t.token for t in e.top_logprobs]) for e in streamed]
      == [(e.token, e.logprob, [t.token for t in e.top_logprobs[:2]]) for e in content], "streamed chat logprobs differ from the whole response's")
count("chat_completions", "length")
# Completions: `logprobs` most likely tokens plus the sampled one; text_offset counts the characters before each token.
prompt_ids = tok.encode(prompts[1]).ids
run = pd_run(prompt_ids, 10, "--top-logprobs", "3", "--ignore-eos")
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=10, temperature=0, logprobs=3, extra_body={"ignore_eos": True})
lp = r.choices[0].logprobs
strings = [tok.decode([t], skip_special_tokens=False) for t in run["tokens"]]
check(lp.tokens == strings and all(close(a, b) for a, b in zip(lp.token_logprobs, run["logprobs"])), f"completion logprobs {lp}")
check(lp.text_offset == [sum(len(x) for x in strings[:i]) for i in range(len(strings))], f"text_offset {lp.text_offset}")
for got, top, token, logprob in zip(lp.top_logprobs, run["top_logprobs"], run["tokens"], run["logprobs"]):
    want = {tok.decode([t["token_id"]], skip_special_tokens=False): t["logprob"] for t in reversed(top)}
    want.setdefault(tok.decode([token], skip_special_tokens=False), logprob)
    check(got.keys() == want.keys() and all(close(got[k], want[k]) for k in want), f"completion top_logprobs {got} vs {want}")
count("completions", "length")
tokens_s, logprobs_s, offsets_s, text_s = [], [], [], ""
for chunk in client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=10, temperature=0, logprobs=0, stream=True,
                                       extra_body={"ignore_eos": True}):
    for c in chunk.choices:
        text_s += c.text
        if c.logprobs:
            tokens_s += c.logprobs.tokens
            logprobs_s += c.logprobs.token_logprobs
            offsets_s += c.logprobs.text_offset
            check(all(len(d) == 1 for d in c.logprobs.top_logprobs), f"logprobs 0: only the sampled token {c.logprobs.top_logprobs}")
check(tokens_s == lp.tokens and logprobs_s == lp.token_logprobs and text_s == r.choices[0].text, f"streamed completion logprobs {tokens_s}")
check(offsets_s == lp.text_offset, f"streamed text_offset {offsets_s} != {lp.text_offset}")
count("completions", "length")
# The logits processors: OpenAI's fields plus vLLM's repetition_penalty / min_tokens (extra_body),
# the same tokens as pd-run with the same options (greedy; and seeded, through the daemon pair's
# two samplers); min_tokens holds EOS off.
for sampling, flags in [({"temperature": 0}, []), ({"temperature": 0.9, "seed": 21}, ["--temperature", "0.9", "--seed", "21"])]:
    run = pd_run(prompt_ids, 24, "--presence-penalty", "0.6", "--frequency-penalty", "0.4", "--repetition-penalty", "1.3",
                 "--min-tokens", "6", "--logit-bias", "7:-100,40:2", *flags)
    r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=24, presence_penalty=0.6, frequency_penalty=0.4,
                                  logit_bias={"7": -100, "40": 2}, logprobs=0,
                                  extra_body={"repetition_penalty": 1.3, "min_tokens": 6}, **sampling)
    check(r.choices[0].text == run["text"] and r.usage.completion_tokens == len(run["tokens"]) >= 6
          and r.choices[0].logprobs.tokens == [tok.decode([t], skip_special_tokens=False) for t in run["tokens"]],
          f"processors {sampling}: {r.choices[0].text!r} ({r.usage.completion_tokens}) != pd-run {run['text']!r} ({len(run['tokens'])})")
    count("completions", r.choices[0].finish_reason)
plain = pd_run(prompt_ids, 24)
check(plain["tokens"] != pd_run(prompt_ids, 24, "--repetition-penalty", "1.3", "--presence-penalty", "0.6")["tokens"],
      "the penalties change nothing on this prompt: the check above would not see them")
# vLLM's min_p (after temperature, before top-k / top-p), seeded through the daemon pair's two samplers:
# the same tokens as pd-run, which min_p changes.
hot = ["--temperature", "1.5", "--seed", "33", "--top-p", "0.95"]
run = pd_run(prompt_ids, 24, "--min-p", "0.2", *hot)
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=24, temperature=1.5, seed=33, top_p=0.95,
                              extra_body={"min_p": 0.2, "ignore_eos": False})
check(r.choices[0].text == run["text"] and r.usage.completion_tokens == len(run["tokens"]), f"min_p: {r.choices[0].text!r} != pd-run {run['text']!r}")
count("completions", r.choices[0].finish_reason)
check(run["tokens"] != pd_run(prompt_ids, 24, *hot)["tokens"], "min_p changes nothing on this prompt: the check above would not see it")
# vLLM's allowed_token_ids: only those are sampled — by the prefill daemon's first token as by decode.
allowed = [7, 40, 99, 300]
run = pd_run(prompt_ids, 12, "--allowed-token-ids", ",".join(map(str, allowed)), *hot)
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=12, temperature=1.5, seed=33, top_p=0.95, logprobs=0,
                              extra_body={"allowed_token_ids": allowed})
check(set(run["tokens"]) <= set(allowed) and len(set(run["tokens"])) > 1 and r.choices[0].text == run["text"]
      and r.choices[0].logprobs.tokens == [tok.decode([t], skip_special_tokens=False) for t in run["tokens"]],
      f"allowed_token_ids: {r.choices[0].text!r} != pd-run {run['text']!r} ({run['tokens']})")
count("completions", r.choices[0].finish_reason)
# vLLM's bad_words, tokenized by its rule (HF tokenizers here: the word alone, and with a leading space
# when that gives a different first token in as many tokens): banning the words greedy decoding wrote
# changes the text, which equals pd-run with those token sequences.
def vllm_bad_words(words):
    sequences = []
    for word in words:
        for space in (False, True):
            ids = tok.encode((" " if space else "") + word.lstrip(), add_special_tokens=False).ids
            if not space or (ids[0] != sequences[-1][0] and len(ids) == len(sequences[-1])):
                sequences.append(ids)
    return sequences
greedy = pd_run(prompt_ids, 16)
words = [tok.decode(greedy["tokens"][:1]), tok.decode(greedy["tokens"][2:4])]
sequences = vllm_bad_words(words)
run = pd_run(prompt_ids, 16, "--bad-words-ids", ";".join(",".join(map(str, s)) for s in sequences))
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=16, temperature=0, extra_body={"bad_words": words})
check(run["tokens"] != greedy["tokens"] and r.choices[0].text == run["text"], f"bad_words {words} {sequences}: {r.choices[0].text!r} != pd-run {run['text']!r}")
count("completions", r.choices[0].finish_reason)
# vLLM's structured output choice (and the older guided_choice): the reply is one of the strings, then
# EOS — greedy as pd-run --choice, sampled choices each one of them (the tokens decode to it by HF
# tokenizers), in chat too.
options = ["Paris", "London", "Rome 🏛"]
run = pd_run(prompt_ids, 16, *[a for o in options for a in ("--choice", o)])
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=16, temperature=0, logprobs=0,
                              extra_body={"structured_outputs": {"choice": options}})
check(r.choices[0].text in options and r.choices[0].text == run["text"] and r.choices[0].finish_reason == "stop"
      and tok.decode(run["tokens"]) == r.choices[0].text,
      f"choice: {r.choices[0].text!r} vs pd-run {run['text']!r} ({r.choices[0].finish_reason})")
count("completions", "stop")
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=16, temperature=1.5, seed=5, n=8,
                              extra_body={"guided_choice": options})
check(all(c.text in options and c.finish_reason == "stop" for c in r.choices) and len({c.text for c in r.choices}) > 1,
      f"sampled choices {[c.text for c in r.choices]}")
for c in r.choices:
    count("completions", c.finish_reason)
r = client.chat.completions.create(model=MODEL, messages=conversations[1], max_tokens=16, temperature=0,
                                   extra_body={"structured_outputs": {"choice": ["yes", "no"]}})
check(r.choices[0].message.content in ("yes", "no") and r.choices[0].finish_reason == "stop", f"chat choice {r.choices[0]}")
count("chat_completions", "stop")
# JSON mode (response_format json_object; vLLM's structured_outputs json_object): greedy as pd-run
# --json-object, sampled replies that ended with EOS each a JSON object by Python's json (those cut by
# max_tokens start one), streamed equal to whole, in chat too.
run = pd_run(prompt_ids, 40, "--json-object")
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=40, temperature=0,
                              extra_body={"response_format": {"type": "json_object"}})
check(r.choices[0].text == run["text"] and r.choices[0].text.startswith("{") and r.choices[0].finish_reason == run["finish_reason"],
      f"json_object: {r.choices[0].text!r} vs pd-run {run['text']!r}")
check(run["tokens"] != pd_run(prompt_ids, 40)["tokens"], "json_object changes nothing on this prompt: the check above would not see it")
count("completions", r.choices[0].finish_reason)


def json_object_reply(text, reason):
    if reason == "stop":
        try:
            return isinstance(json.loads(text), dict)
        except ValueError:
            return False
    return reason == "length" and text.startswith("{")


# A random model writes long strings: closing quotes and braces favoured, so most replies close.
closing = {str(tok.encode(ch, add_special_tokens=False).ids[0]): 4 for ch in ['"', "}", "]"]}
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=48, temperature=1, seed=3, n=8, logit_bias=closing,
                              extra_body={"structured_outputs": {"json_object": True}})
check(all(json_object_reply(c.text, c.finish_reason) for c in r.choices) and sum(c.finish_reason == "stop" for c in r.choices) >= 4,
      f"sampled JSON objects {[(c.text, c.finish_reason) for c in r.choices]}")
for c in r.choices:
    count("completions", c.finish_reason)
whole = client.completions.create(model=MODEL, prompt=prompts[2], max_tokens=48, temperature=1, seed=11,
                                  extra_body={"response_format": {"type": "json_object"}})
text, reasons, _, _ = stream_completion(model=MODEL, prompt=prompts[2], max_tokens=48, temperature=1, seed=11,
                                        extra_body={"response_format": {"type": "json_object"}})
check(text == whole.choices[0].text and reasons == [whole.choices[0].finish_reason]
      and json_object_reply(text, reasons[0]), f"streamed JSON object {text!r} vs {whole.choices[0].text!r}")
count("completions", reasons[0]); count("completions", reasons[0])
r = client.chat.completions.create(model=MODEL, messages=conversations[1], max_tokens=48, temperature=1, seed=2,
                                   response_format={"type": "json_object"})
check(json_object_reply(r.choices[0].message.content, r.choices[0].finish_reason), f"chat JSON object {r.choices[0]}")
count("chat_completions", r.choices[0].finish_reason)
# A JSON Schema (response_format json_schema): the openai SDK's own structured-output path, a pydantic
# model made a strict schema by the SDK and its reply parsed back into the model; greedy equal to pd-run
# --json-schema with the same bias; sampled replies that ended with EOS valid by the jsonschema package.
class Weather(pydantic.BaseModel):
    city: str
    temperature: int
    sunny: bool
    note: str | None


closing_bias = {str(tok.encode(ch, add_special_tokens=False).ids[0]): 6 for ch in ['"', "}", ","]}
parsed = client.chat.completions.parse(model=MODEL, messages=conversations[1], max_tokens=96, temperature=0,
                                       response_format=Weather, logit_bias=closing_bias)
weather = parsed.choices[0].message.parsed
schema_sent = openai.lib._pydantic.to_strict_json_schema(Weather)
chat_ids = tok.encode(render_chat(conversations[1]), add_special_tokens=False).ids
schema_file = os.path.join(tempfile.gettempdir(), f"weather-{os.getpid()}.json")
with open(schema_file, "w") as f:
    json.dump(schema_sent, f)
run = pd_run(chat_ids, 96, "--json-schema", schema_file, "--logit-bias", ",".join(f"{k}:{v}" for k, v in closing_bias.items()))
check(isinstance(weather, Weather) and parsed.choices[0].message.content == run["text"] and parsed.choices[0].finish_reason == "stop",
      f"json_schema parse: {parsed.choices[0]} vs pd-run {run['text']!r}")
count("chat_completions", "stop")
# vLLM's structured_outputs disable_any_whitespace: the same schema written with no whitespace between
# tokens, greedy equal to pd-run --disable-any-whitespace.
parsed = client.chat.completions.parse(model=MODEL, messages=conversations[1], max_tokens=96, temperature=0, response_format=Weather,
                                       logit_bias=closing_bias, extra_body={"structured_outputs": {"disable_any_whitespace": True}})
run = pd_run(chat_ids, 96, "--json-schema", schema_file, "--disable-any-whitespace",
             "--logit-bias", ",".join(f"{k}:{v}" for k, v in closing_bias.items()))
os.remove(schema_file)
compact = parsed.choices[0].message.content
check(isinstance(parsed.choices[0].message.parsed, Weather) and compact == run["text"] and parsed.choices[0].finish_reason == "stop"
      and not re.search(r"\s", re.sub(r'"(\\.|[^"\\])*"', "", compact)), f"disable_any_whitespace: {compact!r} vs pd-run {run['text']!r}")
count("chat_completions", "stop")
# String rules in the schema (pydantic's Field pattern / min_length / max_length → pattern, minLength,
# maxLength, also all three): pydantic's own validation in parse() accepts the reply, greedy and sampled.
class Code(pydantic.BaseModel):
    code: str = pydantic.Field(pattern=r"^[A-Z]{2}-\d{2}$")
    name: str = pydantic.Field(min_length=1, max_length=6)
    user: str = pydantic.Field(pattern=r"^[a-z]+(_[a-z]+)*$", min_length=3, max_length=8)


def parse_greedy_and_sampled(model, max_tokens, bias, what):
    """parse() of `model` greedy and with seeds 1 and 2: each reply ends with EOS and pydantic takes it."""
    for seed in (None, 1, 2):
        parsed = client.chat.completions.parse(model=MODEL, messages=conversations[1], max_tokens=max_tokens, logit_bias=bias,
                                               response_format=model, **({"temperature": 0} if seed is None else {"temperature": 1, "seed": seed}))
        check(isinstance(parsed.choices[0].message.parsed, model) and parsed.choices[0].finish_reason == "stop",
              f"json_schema with {what}: {parsed.choices[0]}")
        count("chat_completions", "stop")


parse_greedy_and_sampled(Code, 64, closing_bias, "string rules")
# String formats (pydantic's date, datetime, UUID, IPv4Address, timedelta → format date, date-time, uuid,
# ipv4, duration), HttpUrl (uri with lengths), a pattern with a maxLength, number bounds (Field ge / le / gt)
# and a tuple (prefixItems):
# pydantic's own parsing in parse() takes the reply.
class Visit(pydantic.BaseModel):
    day: datetime.date
    at: datetime.datetime
    id: uuid.UUID
    host: ipaddress.IPv4Address
    stay: datetime.timedelta
    tag: str = pydantic.Field(pattern=r"^[a-z]+$", max_length=4)
    rating: int = pydantic.Field(ge=1, le=5)
    share: float = pydantic.Field(ge=0, le=1)
    guests: int = pydantic.Field(gt=0)
    site: pydantic.HttpUrl
    pair: tuple[int, datetime.date]


parse_greedy_and_sampled(Visit, 320, closing_bias, "string formats, number bounds and a tuple")
# A dict (additionalProperties a schema: other keys after the listed ones) and any value ({}). A random
# model writes many keys, so the closing quote is favoured more.
class Stock(pydantic.BaseModel):
    shop: str
    stock: dict[str, int]
    extra: typing.Any


dict_bias = {**closing_bias, str(tok.encode("\"", add_special_tokens=False).ids[0]): 9}
parse_greedy_and_sampled(Stock, 200, dict_bias, "a dict and any value")
r = requests.post(f"http://{GATEWAY}/v1/chat/completions", json={"model": MODEL, "messages": conversations[1], "max_tokens": 8, "response_format": {
    "type": "json_schema", "json_schema": {"name": "u", "schema": {"type": "object", "properties": {"u": {"type": "string", "format": "uri-reference"}}}}}})
check(r.status_code == 400 and "properties.u.format" in r.json()["error"]["message"], f"an unserved format: {r.status_code} {r.text}")
errors[400] = errors.get(400, 0) + 1
# A named tool choice: the reply is the function's arguments under its parameters schema, returned as one
# call (content null, finish "stop", as vLLM); the SDK's pydantic_function_tool + parse() reads it back.
class GetWeather(pydantic.BaseModel):
    city: str
    days: int


parsed = client.chat.completions.parse(model=MODEL, messages=conversations[1], max_tokens=96, temperature=0, logit_bias=closing_bias,
                                       tools=[openai.pydantic_function_tool(GetWeather)],
                                       tool_choice={"type": "function", "function": {"name": "GetWeather"}})
m = parsed.choices[0].message
check(m.content is None and len(m.tool_calls) == 1 and m.tool_calls[0].function.name == "GetWeather"
      and isinstance(m.tool_calls[0].function.parsed_arguments, GetWeather) and parsed.choices[0].finish_reason == "stop",
      f"named tool choice: {parsed.choices[0]}")
count("chat_completions", "stop")
# Streamed, the arguments come as they are generated (vLLM's deltas): the first piece has the call's id
# and name, every piece its index; together they are the whole reply's arguments.
streamed_calls, reasons = [], []
for chunk in client.chat.completions.create(model=MODEL, messages=conversations[1], max_tokens=96, temperature=0, logit_bias=closing_bias,
                                            tools=[openai.pydantic_function_tool(GetWeather)], stream=True,
                                            tool_choice={"type": "function", "function": {"name": "GetWeather"}}):
    for c in chunk.choices:
        streamed_calls += c.delta.tool_calls or []
        reasons += [c.finish_reason] if c.finish_reason else []
first_piece = streamed_calls[0] if streamed_calls else None
check(first_piece is not None and first_piece.id and first_piece.function.name == "GetWeather"
      and all(t.index == 0 and t.id is None and t.function.name is None for t in streamed_calls[1:])
      and "".join(t.function.arguments or "" for t in streamed_calls) == m.tool_calls[0].function.arguments
      and len(streamed_calls) > 3 and reasons == ["stop"], f"named tool choice streamed: {streamed_calls} {reasons}")
count("chat_completions", "stop")
# tool_choice "required": a JSON array of calls to any of the tools (vLLM's schema; one with
# parallel_tool_calls false), returned as tool_calls whose arguments validate against the tool's parameters.
class GetTime(pydantic.BaseModel):
    zone: int


required_tools = [openai.pydantic_function_tool(GetWeather), openai.pydantic_function_tool(GetTime)]
params_of = {t["function"]["name"]: t["function"]["parameters"] for t in required_tools}
r = client.chat.completions.create(model=MODEL, messages=conversations[1], max_tokens=128, temperature=0, logit_bias=closing_bias,
                                   tools=required_tools, tool_choice="required", parallel_tool_calls=False)
calls = r.choices[0].message.tool_calls or []
check(r.choices[0].finish_reason == "stop" and r.choices[0].message.content is None and len(calls) == 1
      and all(c.function.name in params_of and jsonschema.Draft202012Validator(params_of[c.function.name]).is_valid(json.loads(c.function.arguments))
              for c in calls), f"required tool choice: {r.choices[0]}")
count("chat_completions", "stop")
item_schema = {"type": "object", "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}},
               "required": ["id", "tags"], "additionalProperties": False}
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=48, temperature=1, seed=4, n=6, logit_bias=closing,
                              extra_body={"structured_outputs": {"json": item_schema}})
stopped = [c for c in r.choices if c.finish_reason == "stop"]
check(len(stopped) >= 3 and all(jsonschema.Draft202012Validator(item_schema).is_valid(json.loads(c.text)) for c in stopped)
      and all(c.finish_reason in ("stop", "length") for c in r.choices), f"sampled JSON Schema values {[(c.text, c.finish_reason) for c in r.choices]}")
for c in r.choices:
    count("completions", c.finish_reason)
# vLLM's regex structured output (structured_outputs.regex, the older guided_regex): greedy as pd-run
# --regex, sampled replies each a whole match by Python's re ended by EOS (the pattern's matches are
# shorter than max_tokens), streamed equal to whole, in chat too.
pattern = r"(yes|no|maybe), [a-z]{2,8}( [0-9]{1,3}| é{1,3})?\."
prompt_ids = tok.encode(prompts[1]).ids
run = pd_run(prompt_ids, 32, "--regex", pattern)
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=32, temperature=0,
                              extra_body={"structured_outputs": {"regex": pattern}})
check(r.choices[0].text == run["text"] and r.choices[0].finish_reason == run["finish_reason"] == "stop"
      and re.fullmatch(pattern, r.choices[0].text), f"regex: {r.choices[0].text!r} vs pd-run {run['text']!r}")
check(run["tokens"] != pd_run(prompt_ids, 32)["tokens"], "the regex changes nothing on this prompt: the check above would not see it")
count("completions", "stop")
r = client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=32, temperature=1, seed=5, n=6,
                              extra_body={"guided_regex": pattern})
check(all(c.finish_reason == "stop" and re.fullmatch(pattern, c.text) for c in r.choices) and len({c.text for c in r.choices}) > 1,
      f"sampled regex matches {[(c.text, c.finish_reason) for c in r.choices]}")
for c in r.choices:
    count("completions", c.finish_reason)
whole = client.completions.create(model=MODEL, prompt=prompts[2], max_tokens=32, temperature=1, seed=8,
                                  extra_body={"structured_outputs": {"regex": pattern}})
text, reasons, _, _ = stream_completion(model=MODEL, prompt=prompts[2], max_tokens=32, temperature=1, seed=8,
                                        extra_body={"structured_outputs": {"regex": pattern}})
check(text == whole.choices[0].text and reasons == ["stop"] == [whole.choices[0].finish_reason] and re.fullmatch(pattern, text),
      f"streamed regex match {text!r} vs {whole.choices[0].text!r}")
count("completions", "stop"); count("completions", "stop")
r = client.chat.completions.create(model=MODEL, messages=conversations[1], max_tokens=32, temperature=1, seed=2,
                                   extra_body={"structured_outputs": {"regex": pattern}})
check(r.choices[0].finish_reason == "stop" and re.fullmatch(pattern, r.choices[0].message.content), f"chat regex match {r.choices[0]}")
count("chat_completions", "stop")
# A GBNF grammar (vLLM's structured_outputs.grammar, the older guided_grammar, llama.cpp's grammar):
# nested lists, so not a regular language; each reply checked by reducing its innermost lists in Python
# until one is left. Greedy as pd-run --grammar-file, sampled replies whole matches ended by EOS (or cut by
# max_tokens), streamed equal to whole, in chat too.
list_grammar = 'root ::= "[" value ("," value)* "]"\nvalue ::= [a-z]{1,6} | [0-9]{1,3} | root\n'
list_item = r"(?:[a-z]{1,6}|[0-9]{1,3}|L)"


def is_list(text):
    for _ in range(len(text) + 1):
        reduced = re.sub(rf"\[{list_item}(?:,{list_item})*\]", "L", text)
        if reduced == text:
            return text == "L"
        text = reduced
    return False


check(is_list("[a,[1,[bc]],22]") and not is_list("[a,[1]") and not is_list("[]") and not is_list("[a][b]"), "the list checker")
grammar_file = os.path.join(tempfile.gettempdir(), f"lists-{os.getpid()}.gbnf")
with open(grammar_file, "w") as f:
    f.write(list_grammar)
prompt_ids = tok.encode(prompts[1]).ids
run = pd_run(prompt_ids, 40, "--grammar-file", grammar_file)
os.unlink(grammar_file)
r = client.completions.create(model=MODEL, prompt=prompts[1], max_tokens=40, temperature=0,
                              extra_body={"structured_outputs": {"grammar": list_grammar}})
check(r.choices[0].text == run["text"] and r.choices[0].finish_reason == run["finish_reason"]
      and (run["finish_reason"] == "length" or is_list(run["text"])), f"grammar: {r.choices[0].text!r} vs pd-run {run['text']!r}")
check(run["tokens"] != pd_run(prompt_ids, 40)["tokens"], "the grammar changes nothing on this prompt: the check above would not see it")
count("completions", r.choices[0].finish_reason)
list_closing = {str(tok.encode(ch, add_special_tokens=False).ids[0]): 5 for ch in ["]"]}
for field in ({"guided_grammar": list_grammar}, {"grammar": list_grammar}):
    r = client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=48, temperature=1, seed=6, n=6, logit_bias=list_closing,
                                  extra_body=field)
    stopped = [c.text for c in r.choices if c.finish_reason == "stop"]
    check(len(stopped) >= 3 and all(is_list(t) for t in stopped) and len(set(stopped)) > 1
          and all(c.finish_reason in ("stop", "length") for c in r.choices), f"sampled {list(field)[0]} lists {[(c.text, c.finish_reason) for c in r.choices]}")
    for c in r.choices:
        count("completions", c.finish_reason)
whole = client.completions.create(model=MODEL, prompt=prompts[2], max_tokens=48, temperature=1, seed=9, logit_bias=list_closing,
                                  extra_body={"structured_outputs": {"grammar": list_grammar}})
text, reasons, _, _ = stream_completion(model=MODEL, prompt=prompts[2], max_tokens=48, temperature=1, seed=9, logit_bias=list_closing,
                                        extra_body={"structured_outputs": {"grammar": list_grammar}})
check(text == whole.choices[0].text and reasons == [whole.choices[0].finish_reason] and (reasons == ["length"] or is_list(text)),
      f"streamed grammar {text!r} vs {whole.choices[0].text!r}")
count("completions", reasons[0]); count("completions", reasons[0])
r = client.chat.completions.create(model=MODEL, messages=conversations[1], max_tokens=48, temperature=1, seed=3, logit_bias=list_closing,
                                   extra_body={"structured_outputs": {"grammar": list_grammar}})
check(r.choices[0].finish_reason == "stop" and is_list(r.choices[0].message.content), f"chat grammar {r.choices[0]}")
count("chat_completions", "stop")
print(f"ok: GBNF grammar (structured_outputs.grammar, guided_grammar, grammar): greedy {run['text']!r} equals pd-run --grammar-file; "
      f"sampled, streamed and chat replies are nested lists by Python's reduction")
# The prompt's logprobs, computed by the 2-rank PCP prefill daemon: lm-evaluation-harness's loglikelihood
# request (echo, logprobs 1, max_tokens 1) and vLLM's prompt_logprobs, against pd-run (one process).
prompt_ids = tok.encode(prompts[0]).ids
run = pd_run(prompt_ids, 1, "--prompt-logprobs", "2")
r = client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=1, temperature=0, logprobs=1, echo=True)
lp = r.choices[0].logprobs
ids_all = prompt_ids + run["tokens"]
check(r.choices[0].text == prompts[0] + run["text"], f"echo text {r.choices[0].text!r}")
check(lp.tokens == [tok.decode([t], skip_special_tokens=False) for t in ids_all], f"echo tokens {lp.tokens}")
check(lp.token_logprobs[0] is None and lp.top_logprobs[0] is None, "the first prompt token has no logprob (null, as vLLM)")
check(all(close(a, b["logprob"]) for a, b in zip(lp.token_logprobs[1:len(prompt_ids)], run["prompt_logprobs"]))
      and close(lp.token_logprobs[-1], run["logprobs"][0]), f"echo logprobs {lp.token_logprobs} vs {run['prompt_logprobs']}")
for got, entry, token in zip(lp.top_logprobs[1:len(prompt_ids)], run["prompt_logprobs"], prompt_ids[1:]):
    want = {tok.decode([entry["top_logprobs"][0]["token_id"]], skip_special_tokens=False): entry["top_logprobs"][0]["logprob"]}
    want.setdefault(tok.decode([token], skip_special_tokens=False), entry["logprob"])
    check(got.keys() == want.keys() and all(close(got[k], want[k]) for k in want), f"echo top_logprobs {got} vs {want}")
check(lp.text_offset == [sum(len(x) for x in lp.tokens[:i]) for i in range(len(lp.tokens))], f"echo text_offset {lp.text_offset}")
count("completions", r.choices[0].finish_reason)
tokens_s, logprobs_s, text_s = [], [], ""
for chunk in client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=1, temperature=0, logprobs=1, echo=True, stream=True):
    for c in chunk.choices:
        text_s += c.text
        if c.logprobs:
            tokens_s += c.logprobs.tokens
            logprobs_s += c.logprobs.token_logprobs
check(text_s == r.choices[0].text and tokens_s == lp.tokens and logprobs_s == lp.token_logprobs, f"streamed echo logprobs {tokens_s} {logprobs_s}")
count("completions", "length")
# Echo alone (max_tokens 0, as vLLM): the prompt and its logprobs — the leading part of the echo above —
# and nothing generated, whole and streamed (without echo max_tokens 0 stays a 400: below).
n_prompt = len(prompt_ids)
for stream in (False, True):
    if stream:
        chunks = list(client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=0, logprobs=1, echo=True, stream=True,
                                                stream_options={"include_usage": True}))
        usage, finish = chunks[-1].usage, [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason]
        text_0 = "".join(c.text for ch in chunks for c in ch.choices)
        lp_0 = [c.logprobs for ch in chunks for c in ch.choices if c.logprobs]
        tokens_0, logprobs_0, top_0 = sum((l.tokens for l in lp_0), []), sum((l.token_logprobs for l in lp_0), []), sum((l.top_logprobs for l in lp_0), [])
    else:
        r0 = client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=0, logprobs=1, echo=True)
        usage, finish, text_0 = r0.usage, [r0.choices[0].finish_reason], r0.choices[0].text
        tokens_0, logprobs_0, top_0 = r0.choices[0].logprobs.tokens, r0.choices[0].logprobs.token_logprobs, r0.choices[0].logprobs.top_logprobs
        check(r0.choices[0].logprobs.text_offset == lp.text_offset[:n_prompt], f"echo alone text_offset {r0.choices[0].logprobs.text_offset}")
    check(text_0 == prompts[0] and tokens_0 == lp.tokens[:n_prompt] and logprobs_0 == lp.token_logprobs[:n_prompt]
          and top_0 == lp.top_logprobs[:n_prompt], f"echo alone (stream {stream}): {text_0!r} {tokens_0} {logprobs_0}")
    check(finish == ["length"] and usage.completion_tokens == 0 and usage.prompt_tokens == n_prompt, f"echo alone: {finish} {usage}")
    count("completions", "length")
r = client.completions.create(model=MODEL, prompt=prompts[0], max_tokens=1, temperature=0, extra_body={"prompt_logprobs": 2})
pl = (r.choices[0].model_extra or {})["prompt_logprobs"]
check(pl[0] is None and len(pl) == len(prompt_ids), f"prompt_logprobs {pl}")
for got, entry, token in zip(pl[1:], run["prompt_logprobs"], prompt_ids[1:]):
    want = {str(token): (entry["logprob"], entry["rank"])}
    for k, t in enumerate(entry["top_logprobs"]):
        want.setdefault(str(t["token_id"]), (t["logprob"], k + 1))
    check(got.keys() == want.keys() and all(close(got[k]["logprob"], want[k][0]) and got[k]["rank"] == want[k][1]
                                            and got[k]["decoded_token"] == tok.decode([int(k)], skip_special_tokens=False) for k in want),
          f"prompt_logprobs entry {got} vs {want}")
count("completions", r.choices[0].finish_reason)
r = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=1, temperature=0, extra_body={"prompt_logprobs": 0})
chat_ids = tok.encode(render_chat(messages), add_special_tokens=False).ids
pl = (r.model_extra or {})["prompt_logprobs"]
chat_run = pd_run(chat_ids, 1, "--prompt-logprobs", "0")
check(len(pl) == len(chat_ids) and all(close(got[str(t)]["logprob"], e["logprob"]) for got, e, t in zip(pl[1:], chat_run["prompt_logprobs"], chat_ids[1:])),
      f"chat prompt_logprobs {pl[:3]}")
count("chat_completions", r.choices[0].finish_reason)
print("ok: chat and completion logprobs (whole and streamed; top tokens, bytes, text_offset), the prompt's (echo + logprobs "
      "as lm-evaluation-harness asks, echo alone with max_tokens 0, prompt_logprobs; 2-rank PCP prefill vs one process), the logits processors "
      "(penalties, logit_bias, min_tokens; greedy and seeded), min_p, allowed_token_ids (seeded), bad_words and structured choice equal pd-run + HF tokenizers")

# 4c. n choices per prompt: choice prompt × n + j is the prompt's seeded sample with seed + j (vLLM's rule),
# each equal to pd-run with that seed; usage counts each prompt once; echo puts the prompt first.
pair = prompts[:2]
runs = {(p, j): pd_run(tok.encode(pair[p]).ids, 8, "--temperature", "0.9", "--seed", str(40 + j)) for p in range(2) for j in range(3)}
r = client.completions.create(model=MODEL, prompt=pair, n=3, max_tokens=8, temperature=0.9, seed=40, echo=True)
check([c.index for c in r.choices] == list(range(6)), f"n=3 × 2 prompts: indices {[c.index for c in r.choices]}")
for c in r.choices:
    p, j = divmod(c.index, 3)
    check(c.text == pair[p] + runs[(p, j)]["text"], f"choice {c.index}: {c.text!r} != {pair[p]!r} + {runs[(p, j)]['text']!r}")
    count("completions", c.finish_reason)
check(len({c.text for c in r.choices[:3]}) > 1, f"three seeded samples all alike: {[c.text for c in r.choices[:3]]}")
check(r.usage.prompt_tokens == sum(len(tok.encode(x).ids) for x in pair)
      and r.usage.completion_tokens == sum(len(v["tokens"]) for v in runs.values()), f"n=3 usage {r.usage}")
texts, finished = {}, {}
for chunk in client.chat.completions.create(model=MODEL, messages=conversations[0], n=2, max_tokens=6, temperature=0.9, seed=7,
                                            stream=True):
    for c in chunk.choices:
        texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
        if c.finish_reason:
            finished[c.index] = c.finish_reason
chat_ids = tok.encode(render_chat(conversations[0]), add_special_tokens=False).ids
want = [pd_run(chat_ids, 6, "--temperature", "0.9", "--seed", str(7 + j))["text"] for j in range(2)]
check([texts.get(j) for j in range(2)] == want and sorted(finished) == [0, 1], f"streamed chat n=2: {texts} {finished} != {want}")
for reason in finished.values():
    count("chat_completions", reason)
# seed 0 is a seed like any other (vLLM's), not "pick one": the same tokens as pd-run --seed 0, twice.
want = pd_run(tok.encode(pair[0]).ids, 8, "--temperature", "0.9", "--seed", "0")["text"]
for _ in range(2):
    r = client.completions.create(model=MODEL, prompt=pair[0], max_tokens=8, temperature=0.9, seed=0)
    check(r.choices[0].text == want, f"seed 0: {r.choices[0].text!r} != pd-run's {want!r}")
    count("completions", r.choices[0].finish_reason)
print("ok: n choices per prompt (seed + j each, as vLLM), whole and streamed, usage once per prompt; echo; seed 0")

# 5. Errors: OpenAI's error object naming the parameter.
def expect_error(status, param, call):
    try:
        call()
    except openai.APIStatusError as e:
        body = e.response.json()["error"]
        check(e.status_code == status and body.get("param") == param and body["message"],
              f"expected {status} naming {param}, got {e.status_code} {body}")
        errors[status] = errors.get(status, 0) + 1
        return
    check(False, f"expected HTTP {status} naming {param}; the call succeeded")

expect_error(400, "n", lambda: client.completions.create(model=MODEL, prompt="x", n=0))
# OpenAI's chat parameters that change nothing here, as the SDK sends them: the same reply as without.
plain = client.chat.completions.create(model=MODEL, messages=conversations[0], max_tokens=8, temperature=0)
extras = client.chat.completions.create(model=MODEL, messages=conversations[0], max_tokens=8, temperature=0, store=False,
                                        metadata={"team": "eval"}, service_tier="auto", prompt_cache_key="k", safety_identifier="u1",
                                        reasoning_effort="low", verbosity="low", modalities=["text"],
                                        prediction={"type": "content", "content": "Hello"})
check(extras.choices[0].message.content == plain.choices[0].message.content, f"ignored parameters changed the reply: {extras.choices[0]}")
count("chat_completions", plain.choices[0].finish_reason); count("chat_completions", extras.choices[0].finish_reason)
expect_error(400, "modalities", lambda: client.chat.completions.create(model=MODEL, messages=conversations[0], modalities=["text", "audio"]))
expect_error(400, "max_token", lambda: client.chat.completions.create(model=MODEL, messages=conversations[0], extra_body={"max_token": 3}))
expect_error(400, "structured_outputs.regex", lambda: client.completions.create(
    model=MODEL, prompt="x", extra_body={"structured_outputs": {"regex": r"(a)\1"}}))
expect_error(400, "structured_outputs.grammar", lambda: client.completions.create(
    model=MODEL, prompt="x", extra_body={"structured_outputs": {"grammar": 'root ::= "[" item'}}))
expect_error(400, "max_tokens", lambda: client.completions.create(model=MODEL, prompt="x", max_tokens=0, logprobs=1))
expect_error(400, "structured_outputs.json", lambda: client.completions.create(model=MODEL, prompt="x",
                                                                                extra_body={"structured_outputs": {"json": {"type": "integer", "multipleOf": 2}}}))
expect_error(400, "response_format", lambda: client.chat.completions.create(
    model=MODEL, messages=conversations[0], response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array", "uniqueItems": True}}}))
expect_error(400, "response_format", lambda: client.completions.create(
    model=MODEL, prompt="x", extra_body={"response_format": {"type": "json_object"}, "ignore_eos": True}))
expect_error(400, "continue_final_message", lambda: client.chat.completions.create(
    model=MODEL, messages=conversations[0], extra_body={"continue_final_message": True}))   # add_generation_prompt defaults to true
expect_error(400, "logprobs", lambda: client.completions.create(model=MODEL, prompt="x", logprobs=21))
expect_error(400, "presence_penalty", lambda: client.completions.create(model=MODEL, prompt="x", presence_penalty=3))
expect_error(400, "logit_bias", lambda: client.completions.create(model=MODEL, prompt="x", logit_bias={"99999999": 1}))
expect_error(400, "min_tokens", lambda: client.completions.create(model=MODEL, prompt="x", max_tokens=2, extra_body={"min_tokens": 3}))
expect_error(400, "best_of", lambda: client.completions.create(model=MODEL, prompt="x", best_of=3))
expect_error(400, "prompt_logprobs", lambda: client.completions.create(model=MODEL, prompt="x", stream=True, extra_body={"prompt_logprobs": 1}))
expect_error(400, "tool_choice", lambda: client.chat.completions.create(model=MODEL, messages=conversations[0],
             tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]))
expect_error(400, "top_logprobs", lambda: client.chat.completions.create(model=MODEL, messages=conversations[0], top_logprobs=2))
expect_error(404, "model", lambda: client.completions.create(model="no-such-model", prompt="x"))
expect_error(400, "prompt", lambda: client.completions.create(model=MODEL, prompt=""))
expect_error(400, "prompt", lambda: client.completions.create(model=MODEL, prompt=[]))
expect_error(400, "prompt", lambda: client.completions.create(model=MODEL, prompt=[1] * context))
expect_error(400, "max_tokens", lambda: client.completions.create(model=MODEL, prompt="x", max_tokens=context))
expect_error(400, "prompt", lambda: client.completions.create(model=MODEL, prompt=[100000]))
expect_error(400, "messages", lambda: client.chat.completions.create(model=MODEL, messages=[]))
expect_error(400, "temperature", lambda: client.completions.create(model=MODEL, prompt="x", temperature=-1))
expect_error(400, "bogus_field", lambda: client.completions.create(model=MODEL, prompt="x", extra_body={"bogus_field": 1}))
r = requests.post(f"http://{GATEWAY}/v1/completions", data="{not json", headers={"content-type": "application/json"})
check(r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", f"bad JSON: {r.status_code} {r.text}")
for path in ("/v1/completions", "/v1/chat/completions", "/tokenize"):
    r = requests.post(f"http://{GATEWAY}{path}", data=b'{"model": "' + MODEL.encode() + b'", "prompt": "caf\xe9 \xff"}',
                      headers={"content-type": "application/json"})
    check(r.status_code == 400 and "UTF-8" in r.json()["error"]["message"], f"non-UTF-8 body on {path}: {r.status_code} {r.text}")
errors[400] = errors.get(400, 0) + 1
print("ok: unsupported or out-of-range parameters, unknown model, empty / too long / out-of-vocab prompts, bad JSON, non-UTF-8 bodies → 4xx naming the field")

# 6. /v1/models, /tokenize, /detokenize, /health, /version.
models = client.models.list()
check([m.id for m in models.data] == [MODEL], f"models {models}")
r = requests.post(f"http://{GATEWAY}/tokenize", json={"model": MODEL, "prompt": prompts[1]}).json()
check(r["tokens"] == tok.encode(prompts[1]).ids and r["count"] == len(r["tokens"]) and r["max_model_len"] == context, f"tokenize {r}")
r = requests.post(f"http://{GATEWAY}/tokenize", json={"messages": conversations[1]}).json()
check(r["tokens"] == tok.encode(render_chat(conversations[1]), add_special_tokens=False).ids, f"tokenize messages {r}")
some = tok.encode(prompts[2]).ids
r = requests.post(f"http://{GATEWAY}/detokenize", json={"tokens": some}).json()
check(r["prompt"] == tok.decode(some, skip_special_tokens=False), f"detokenize {r}")
check(requests.get(f"http://{GATEWAY}/health").status_code == 200, "health")
check("version" in requests.get(f"http://{GATEWAY}/version").json(), "version")
print("ok: /v1/models, /tokenize (prompt and messages), /detokenize, /health, /version")

# 7. Client disconnect mid-stream: decode drops the request and frees its pages.
def decode_stats():
    return json.loads(subprocess.run([f"{BIN}/pd-client", "stats", "--target", DECODE], check=True,
                                     capture_output=True, text=True).stdout)

body = json.dumps({"model": MODEL, "prompt": prompts[0], "max_tokens": 3000, "temperature": 0, "ignore_eos": True,
                   "stream": True}).encode()
host, port = GATEWAY.split(":")
sock = socket.create_connection((host, int(port)))
sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
             + str(len(body)).encode() + b"\r\n\r\n" + body)
got = b""
while got.count(b"data: ") < 3:
    got += sock.recv(65536)
active = decode_stats()["active_requests"]
check(active == 1, f"mid-stream: decode has {active} active requests, expected 1")
sock.close()
for _ in range(100):
    s = decode_stats()
    if s["active_requests"] == 0 and s["free_kv_pages"] == s["total_kv_pages"]:
        break
    time.sleep(0.1)
check(s["active_requests"] == 0 and s["free_kv_pages"] == s["total_kv_pages"], f"after disconnect: {s}")
check(s["recent"][0]["finish_reason"] == "cancelled" and s["recent"][0]["generated_tokens"] < 3000, f"recent {s['recent'][0]}")
count("completions", "abort")
print(f"ok: disconnect mid-stream cancels the request on decode after {s['recent'][0]['generated_tokens']} tokens, pages back")

# 8. /metrics parses as Prometheus text and agrees with what was sent.
time.sleep(0.2)
families = {f.name: f for f in text_string_to_metric_families(requests.get(f"http://{GATEWAY}/metrics").text)}
by_label = {}
for s in families["latentserve_requests"].samples:
    if s.name == "latentserve_requests_total":
        key = (s.labels["endpoint"], s.labels["finish_reason"], s.labels["status"])
        by_label[key] = by_label.get(key, 0) + s.value
for endpoint, reasons in sent.items():
    for reason, n in reasons.items():
        status = "499" if reason == "abort" else "200"
        check(by_label.get((endpoint, reason, status)) == n, f"metrics {endpoint}/{reason}: {by_label.get((endpoint, reason, status))} != {n}")
error_counts = {}
for (endpoint, reason, status), n in by_label.items():
    if reason == "error":
        error_counts[int(status)] = error_counts.get(int(status), 0) + n
check(error_counts == errors, f"error metrics {error_counts} != {errors}")
ok_requests = sum(n for e in sent.values() for r, n in e.items() if r != "abort")
ttft = families["latentserve_time_to_first_token_seconds"]
ttft_count = next(s.value for s in ttft.samples if s.name.endswith("_count"))
check(ttft_count >= ok_requests, f"ttft count {ttft_count} < {ok_requests}")
check("latentserve_inter_token_latency_seconds" in families and "latentserve_e2e_request_latency_seconds" in families
      and "latentserve_prompt_tokens" in families and "latentserve_generation_tokens" in families
      and "latentserve_requests_running" in families, f"families {sorted(families)}")
running = next(s.value for s in families["latentserve_requests_running"].samples)
check(running == 0, f"running gauge {running} with nothing in flight")
print(f"ok: /metrics parses; request counters agree with the {sum(by_label.values()):.0f} requests sent")
print(f"all {checks} checks passed")
