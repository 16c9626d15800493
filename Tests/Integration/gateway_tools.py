"""Tool calls through pd-gateway and the real `openai` SDK, the model's output scripted: a stand-in decode
daemon (grpcio, messages written by hand with raw_grpc's helpers, sharing no code with ours) answers
Health/Watch, Stats and Generate, streaming the token ids HF `tokenizers` gives for a DeepSeek-V3.1 tool-call
text on tiny's tokenizer (whose markers are added tokens, as the real checkpoint's). Checks the parsed
`tool_calls` (whole and streamed, parallel and not), the prompt the gateway sends for a conversation with tool
calls and results (jinja2 as transformers renders it, HF tokenizers), and tool_choice none. Run by
gateway-tools.sh (env: BIN, MODEL_DIR, WORK)."""
import json, os, subprocess, sys, threading, time
from concurrent import futures

import grpc, openai, requests
from tokenizers import Tokenizer

import chat_reference
from raw_grpc import field, fields, read_varint, vfield, varint

BIN, MODEL_DIR, WORK = os.environ["BIN"], os.environ["MODEL_DIR"], os.environ["WORK"]
tok = Tokenizer.from_file(f"{MODEL_DIR}/tokenizer.json")
config = json.load(open(f"{MODEL_DIR}/tokenizer_config.json"))
EOS = 1
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


class FakeDecode:
    """Answers every Generate with `script` (token ids), then finish STOP; keeps the prompts it got."""
    def __init__(self):
        self.script, self.prompts, self.structured = [], [], []

    def watch(self, request, context):
        yield vfield(1, 1)                                    # SERVING
        for _ in range(6000):                                 # at most 10 minutes
            if not context.is_active():
                return
            time.sleep(0.1)

    def stats(self, request, context):
        return vfield(2, 4096) + vfield(3, 4096) + vfield(4, 16)

    def generate(self, request, context):
        prompt = []
        for number, wire, value in fields(request):
            if number == 1 and wire == 2:                     # packed prompt_token_ids
                i = 0
                while i < len(value):
                    t, i = read_varint(value, i)
                    prompt.append(t)
        self.prompts.append(prompt)
        # SamplingParams (field 3): json_object (20) and structured_after (21, packed).
        json_object, after = False, []
        for number, wire, value in fields(request):
            for n, w, v in fields(value) if number == 3 and wire == 2 else []:
                if n == 20:
                    json_object = bool(v)
                elif n == 21 and w == 2:
                    i = 0
                    while i < len(v):
                        t, i = read_varint(v, i)
                        after.append(t)
                elif n == 21:
                    after.append(v)
        self.structured.append((json_object, after))
        script = list(self.script)
        tokens = b"".join(field(2, vfield(1, t) + varint(2 << 3 | 5) + b"\0\0\0\0") for t in script)
        yield field(1, b"fake-1") + tokens
        usage = vfield(1, len(prompt)) + vfield(2, len(script))
        yield field(1, b"fake-1") + vfield(3, 1) + field(4, usage)


fake = FakeDecode()
ident = lambda b: b
handlers = {
    "/grpc.health.v1.Health/Watch": grpc.unary_stream_rpc_method_handler(fake.watch, ident, ident),
    "/latentserve.v1.Decode/Stats": grpc.unary_unary_rpc_method_handler(fake.stats, ident, ident),
    "/latentserve.v1.Decode/Generate": grpc.unary_stream_rpc_method_handler(fake.generate, ident, ident),
}


class Handler(grpc.GenericRpcHandler):
    def service(self, details):
        return handlers.get(details.method)


server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
server.add_generic_rpc_handlers((Handler(),))
decode_port = server.add_insecure_port("127.0.0.1:0")
server.start()


def start_gateway(*flags):
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    log = open(f"{WORK}/gateway-tools-{port}.log", "w")
    proc = subprocess.Popen([f"{BIN}/pd-gateway", "--model", MODEL_DIR, "--served-model-name", "tiny", "--listen", f"127.0.0.1:{port}",
                             "--decode", f"127.0.0.1:{decode_port}", *flags], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    print(open(f"{WORK}/gateway-tools-{port}.log").read(), file=sys.stderr)
    check(False, "pd-gateway did not become healthy")


def render_chat(messages, **kwargs):
    return chat_reference.render_chat(config, messages, **kwargs)


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
CALL = "<｜tool▁call▁begin｜>{}<｜tool▁sep｜>{}<｜tool▁call▁end｜>"
lead = "Let me check."
calls = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"zone": "CET"}')]
text = lead + "<｜tool▁calls▁begin｜>" + "".join(CALL.format(n, a) for n, a in calls) + "<｜tool▁calls▁end｜>"
fake.script = tok.encode(text, add_special_tokens=False).ids + [EOS]
messages = [{"role": "user", "content": "Weather and time in Paris?"}]

gateway, client = start_gateway("--tool-call-parser", "deepseek_v31")
try:
    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0)
    m = r.choices[0].message
    check(m.content == lead and [(c.function.name, c.function.arguments) for c in m.tool_calls] == calls
          and all(c.type == "function" and c.id for c in m.tool_calls) and len({c.id for c in m.tool_calls}) == 2,
          f"whole: {m}")
    check(r.choices[0].finish_reason == "tool_calls", f"finish_reason {r.choices[0].finish_reason}")
    check(fake.prompts[-1] == tok.encode(render_chat(messages), add_special_tokens=False).ids, "the prompt sent to decode")

    # Streamed, each call's arguments come as they are generated (vLLM's deltas): its first piece has
    # the id and name, the later ones only arguments.
    content, deltas, finish, pieces = "", {}, None, {}
    for chunk in client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0, stream=True):
        for c in chunk.choices:
            content += c.delta.content or ""
            for d in c.delta.tool_calls or []:
                entry = deltas.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                check(bool(d.id) == (entry["id"] is None), f"only a call's first piece has its id: {d}")
                entry["id"] = entry["id"] or d.id
                entry["name"] += d.function.name or ""
                entry["arguments"] += d.function.arguments or ""
                pieces[d.index] = pieces.get(d.index, 0) + 1
            finish = c.finish_reason or finish
    check(content == lead and [(deltas[i]["name"], deltas[i]["arguments"]) for i in sorted(deltas)] == calls
          and sorted(deltas) == [0, 1] and all(d["id"] for d in deltas.values()) and finish == "tool_calls",
          f"streamed: {content!r} {deltas} {finish}")
    check(all(n > 2 for n in pieces.values()), f"the arguments streamed in pieces: {pieces}")

    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0, parallel_tool_calls=False)
    check([c.function.name for c in r.choices[0].message.tool_calls] == ["get_weather"], "parallel_tool_calls false keeps the first")

    # tool_choice none: no parsing; the text as decode's detokenizer gives it (special tokens skipped).
    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, tool_choice="none", max_tokens=200, temperature=0)
    check(r.choices[0].message.content == tok.decode(fake.script, skip_special_tokens=True) and not r.choices[0].message.tool_calls
          and r.choices[0].finish_reason == "stop", f"tool_choice none: {r.choices[0]}")

    # Only text (no section): plain content, finish stop.
    fake.script = tok.encode("It is sunny.", add_special_tokens=False).ids + [EOS]
    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0)
    check(r.choices[0].message.content == "It is sunny." and not r.choices[0].message.tool_calls and r.choices[0].finish_reason == "stop",
          f"no call: {r.choices[0]}")

    # A conversation carrying the calls and their results: the chat template renders them.
    history = messages + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}]
    client.chat.completions.create(model="tiny", messages=history, tools=TOOLS, max_tokens=20, temperature=0)
    check(fake.prompts[-1] == tok.encode(render_chat(history), add_special_tokens=False).ids,
          f"history prompt {tok.decode(fake.prompts[-1], skip_special_tokens=False)!r} != {render_chat(history)!r}")
    # Generation cut inside a call (max_tokens): nothing lost, the section comes back as text, finish length.
    fake.script = tok.encode(lead + "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_wea", add_special_tokens=False).ids
    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0)
    check(not r.choices[0].message.tool_calls and r.choices[0].message.content == tok.decode(fake.script, skip_special_tokens=True),
          f"unfinished call: {r.choices[0]}")
finally:
    gateway.terminate()
    gateway.wait(timeout=30)

# --reasoning-parser deepseek_r1: with chat_template_kwargs {"thinking": true} the template leaves <think>
# open, so the output starts in reasoning; </think> ends it; the answer (and its tool calls) follow.
gateway, client = start_gateway("--tool-call-parser", "deepseek_v31", "--reasoning-parser", "deepseek_r1")
try:
    thought = "The user wants the weather, so I call the tool."
    fake.script = tok.encode(thought + "</think>" + text, add_special_tokens=False).ids + [EOS]
    thinking = {"chat_template_kwargs": {"thinking": True}}
    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0, extra_body=thinking)
    m = r.choices[0].message
    check((m.model_extra or {}).get("reasoning_content") == thought and m.content == lead
          and [(c.function.name, c.function.arguments) for c in m.tool_calls] == calls and r.choices[0].finish_reason == "tool_calls",
          f"reasoning whole: {m}")
    check(fake.prompts[-1] == tok.encode(render_chat(messages, thinking=True), add_special_tokens=False).ids, "the thinking prompt")
    port = client.base_url.port
    tokenized = requests.post(f"http://127.0.0.1:{port}/tokenize", json={"messages": messages, "tools": TOOLS, **thinking}).json()
    check(tokenized["tokens"] == fake.prompts[-1], "/tokenize renders a chat as generation does (tools, chat_template_kwargs)")
    reasoning_s, content_s, names = "", "", []
    for chunk in client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=200, temperature=0,
                                                stream=True, extra_body=thinking):
        for c in chunk.choices:
            reasoning_s += (c.delta.model_extra or {}).get("reasoning_content") or ""
            content_s += c.delta.content or ""
            names += [d.function.name for d in c.delta.tool_calls or [] if d.function.name]
    check(reasoning_s == thought and content_s == lead and names == ["get_weather", "get_time"], f"reasoning streamed: {reasoning_s!r} {content_s!r} {names}")
    # Without thinking the template closes the think block: all of the output is the answer.
    fake.script = tok.encode("It is sunny.", add_special_tokens=False).ids + [EOS]
    r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=200, temperature=0)
    check(r.choices[0].message.content == "It is sunny." and (r.choices[0].message.model_extra or {}).get("reasoning_content", "absent") is None,
          f"no reasoning: {r.choices[0].message}")
    check(fake.prompts[-1] == tok.encode(render_chat(messages), add_special_tokens=False).ids, "the non-thinking prompt")
    # JSON mode after the reasoning (vLLM's rule): the decode daemon is told to start it at </think> when
    # the prompt leaves <think> open, from the first token otherwise.
    think_end = tok.token_to_id("</think>")
    fake.script = tok.encode(thought + "</think>" + '{"a": 1}', add_special_tokens=False).ids + [EOS]
    r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=200, temperature=0,
                                       response_format={"type": "json_object"}, extra_body=thinking)
    check(fake.structured[-1] == (True, [think_end]) and r.choices[0].message.content == '{"a": 1}'
          and (r.choices[0].message.model_extra or {}).get("reasoning_content") == thought,
          f"json_object after reasoning: sent {fake.structured[-1]}, got {r.choices[0].message}")
    fake.script = tok.encode('{"a": 1}', add_special_tokens=False).ids + [EOS]
    r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=200, temperature=0,
                                       response_format={"type": "json_object"})
    check(fake.structured[-1] == (True, []) and r.choices[0].message.content == '{"a": 1}',
          f"json_object without reasoning: sent {fake.structured[-1]}, got {r.choices[0].message}")
finally:
    gateway.terminate()
    gateway.wait(timeout=30)

# Without --tool-call-parser, "auto" tool choice is a 400 naming tool_choice (vLLM's rule).
gateway, client = start_gateway()
try:
    try:
        client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, max_tokens=5)
        check(False, "tools without --tool-call-parser were accepted")
    except openai.BadRequestError as e:
        check(e.response.json()["error"]["param"] == "tool_choice", f"error {e.response.text}")
finally:
    gateway.terminate()
    gateway.wait(timeout=30)
server.stop(grace=None)
print(f"ok: tool calls (deepseek_v31) whole and streamed, parallel and not, tool_choice none, a cut call kept as text, the tool "
      f"history rendered as jinja2 does; reasoning_content (deepseek_r1) with chat_template_kwargs thinking, and none without; "
      f"tools without a parser refused — {checks} checks")
