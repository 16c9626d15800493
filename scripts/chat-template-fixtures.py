#!/usr/bin/env python3
"""Reference renderings of real chat templates, for Tests/ChatTemplateTests.

Renders every (template x conversation x options) case with jinja2 set up exactly as transformers'
`apply_chat_template` sets it up (transformers/utils/chat_template_utils.py, `_compile_jinja_template` and
`render_jinja_template`), and writes the inputs, the template sources and the expected text (or the
exception jinja2 raised) to one JSON file. `strftime_now` reports a FIXED date so the output is
deterministic; the Swift test injects the same date.

usage: chat-template-fixtures.py --templates DIR --out FILE [--continue-final-message]
Does nothing when FILE already holds the output of this script, this jinja2 and these template files.
With --continue-final-message (a venv with transformers): each template x conversation rendered by
transformers' own `render_jinja_template(..., continue_final_message=True, add_generation_prompt=False)`
instead, its `datetime` fixed to the same date and its reasoning-field aliasing off (as the main cases).
"""
import argparse
import copy
import hashlib
import json
import os
import sys
from datetime import datetime, timezone

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

# strftime_now's date: 2026-07-14 09:05:03 (read as UTC on the Swift side).
FIXED_NOW = datetime(2026, 7, 14, 9, 5, 3)
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"


# --- transformers' environment (copied from chat_template_utils._compile_jinja_template) ---------------

class AssistantTracker(Extension):
    # transformers' {% generation %} tag; rendering only needs its body (no assistant mask here).
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers overrides jinja2's tojson (which escapes HTML characters) with plain json.dumps.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def render(template, conversation, add_generation_prompt, kwargs):
    # render_jinja_template: render(messages=, tools=, documents=, add_generation_prompt=, **special tokens, **kwargs)
    return template.render(messages=conversation["messages"], tools=conversation.get("tools"), documents=None,
                           add_generation_prompt=add_generation_prompt, bos_token=BOS, eos_token=EOS, **kwargs)


# --- inputs --------------------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
                "unit": {"type": "string", "description": "Temperature unit", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"},
                                                      "top_k": {"type": "integer", "description": "How many results"}},
                       "required": ["query"]},
    },
}


def tool_call(id, name, arguments):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


CONVERSATIONS = {
    "single_user": {"messages": [{"role": "user", "content": "Hello! What's 2+2?"}]},
    "system_multi_turn": {"messages": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one, please."},
    ]},
    "assistant_last": {"messages": [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi!"},
    ]},
    "reasoning": {"messages": [
        {"role": "system", "content": "Think step by step."},
        {"role": "user", "content": "What is 12*12?"},
        {"role": "assistant", "content": "<think>\n12*12 = 144.\n</think>\n\n144", "reasoning_content": "12*12 = 144."},
        {"role": "user", "content": "And 13*13?"},
    ]},
    "unicode_quotes": {"messages": [
        {"role": "system", "content": "Réponds en français, s'il te plaît. \"Quotes\" and 'apostrophes'."},
        {"role": "user", "content": "你好，世界！🌍👩‍💻 Line one\nLine two\twith tab and a backslash \\ and {{ braces }} {% tag %}"},
        {"role": "assistant", "content": "こんにちは 😀 — “curly” ‘quotes’\n\n```python\nprint(\"hi\")\n```"},
        {"role": "user", "content": "Ünïcödé ✓ \u2028 end"},
    ]},
    "tool_calls_string_args": {
        "tools": [WEATHER_TOOL, SEARCH_TOOL],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "Weather in Paris and Tokyo?"},
            {"role": "assistant", "content": "", "tool_calls": [
                tool_call("call_1", "get_weather", "{\"city\": \"Paris\"}"),
                tool_call("call_2", "get_weather", "{\"city\": \"東京\", \"unit\": \"celsius\"}"),
            ]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21, \"sky\": \"clear\"}"},
            {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "{\"temp\": 26, \"sky\": \"雨\"}"},
            {"role": "assistant", "content": "Paris: 21°C, clear. Tokyo: 26°C, rain."},
            {"role": "user", "content": "Thanks!"},
        ],
    },
    "tool_calls_dict_args": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [
                tool_call("call_a", "get_weather", {"city": "Oslo", "unit": "celsius", "days": 3, "threshold": 0.5,
                                                    "big": 1e20, "alerts": True, "extra": None, "tags": ["a", "ß"]}),
            ]},
            {"role": "tool", "tool_call_id": "call_a", "name": "get_weather", "content": "-3 and snowing"},
        ],
    },
    "tools_defined_no_calls": {
        "tools": [SEARCH_TOOL],
        "messages": [{"role": "user", "content": "Find the tallest building."}],
    },
    "reasoning_tool_turn": {
        "tools": [SEARCH_TOOL],
        "messages": [
            {"role": "user", "content": "Who won the 1998 World Cup?"},
            {"role": "assistant", "content": "", "reasoning_content": "I should search.",
             "tool_calls": [tool_call("call_s", "search", "{\"query\": \"1998 World Cup winner\", \"top_k\": 3}")]},
            {"role": "tool", "tool_call_id": "call_s", "content": "France won, beating Brazil 3–0."},
            {"role": "assistant", "content": "France.", "reasoning_content": "The tool says France."},
        ],
    },
    "tool_rounds_with_text": {
        "tools": [WEATHER_TOOL, SEARCH_TOOL],
        "messages": [
            {"role": "system", "content": "Use tools when needed."},
            {"role": "user", "content": "Is it warmer in Rome than in Madrid?"},
            {"role": "assistant", "content": "Let me check Rome first.",
             "tool_calls": [tool_call("c1", "get_weather", "{\"city\": \"Rome\"}")]},
            {"role": "tool", "tool_call_id": "c1", "content": "18"},
            {"role": "assistant", "content": "Now Madrid.",
             "tool_calls": [tool_call("c2", "get_weather", "{\"city\": \"Madrid\"}")]},
            {"role": "tool", "tool_call_id": "c2", "content": "22"},
        ],
    },
    "empty_and_whitespace": {"messages": [
        {"role": "system", "content": ""},
        {"role": "user", "content": "  padded question \n\n"},
        {"role": "assistant", "content": "\n answer with spaces  "},
        {"role": "user", "content": ""},
    ]},
    "content_parts": {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Describe this."}, {"type": "text", "text": "Briefly."}]},
    ]},
    "consecutive_users": {"messages": [
        {"role": "user", "content": "First."},
        {"role": "user", "content": "Second."},
    ]},
}

# Templates that read a variable of their own (firefunction-v2 takes its tool list as `functions`).
TEMPLATE_KWARGS = {
    "fireworks-ai-llama-3-firefunction-v2": {"functions": json.dumps([WEATHER_TOOL["function"]], ensure_ascii=False),
                                             "datetime": "2026-07-14 09:05"},
}

OPTIONS = [
    {},
    {"thinking": True, "enable_thinking": True},
    {"thinking": False, "enable_thinking": False},
]


# --- random expression snippets (a fixed seed): the engine against jinja2 beyond what real templates do ----

SNIPPET_CONTEXT = {
    "s": "Hello, Wörld 🌍 \"q\" 'a'", "e": "", "n": 7, "m": -3, "f": 2.5, "z": 0, "t": True, "no": None,
    "l": [3, 1, 2], "w": ["b", "A", "c", "a"], "d": {"k": 1, "j": [1, 2], "x": {"y": "deep"}},
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "tool_calls": []}],
}
ATOMS = ["s", "e", "n", "m", "f", "z", "t", "no", "l", "w", "d", "msgs", "undef", "1", "0", "-2", "3.75", "1e3",
         "'x'", "'日本'", "\"q'\"", "''", "none", "true", "false", "[1, 'a']", "[]", "{'a': 1}", "(1, 2)",
         "d.x", "d['j']", "msgs[0]", "msgs[-1].content", "l[1:]", "s[::-1]", "w[0]", "d.k"]
FILTERS = ["length", "string", "trim", "upper", "lower", "title", "capitalize", "first", "last", "list", "tojson",
           "tojson(indent=2)", "join(',')", "reverse|list", "sort|list", "unique|list", "int", "float", "abs",
           "round", "default('D')", "d('D', true)", "items|list", "map('string')|list", "select|list",
           "reject|list", "indent(2)", "replace('l', 'L')", "wordcount", "sum", "min", "max", "escape", "safe",
           "selectattr('role', 'equalto', 'user')|list", "map(attribute='role')|list", "count", "dictsort"]
TESTS = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable",
         "sequence", "boolean", "true", "false", "odd", "even", "in [1, 'x', none]", "divisibleby 2", "lower"]
BINOPS = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "in", "not in", "and", "or"]
METHODS = ["upper()", "split()", "split(',')", "strip()", "startswith('He')", "endswith(('a', 'd'))",
           "find('o')", "replace('o', '0')", "get('k')", "get('zz', 'dflt')", "keys()|list", "values()|list",
           "items()|list", "rsplit(' ', 1)", "lstrip('H')", "title()", "count('l')"]


def random_expression(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.3:
        return rng.choice(ATOMS)
    if r < 0.5:
        return f"({random_expression(rng, depth + 1)})|{rng.choice(FILTERS)}"
    if r < 0.62:
        neg = rng.choice(["", "not "])
        return f"({random_expression(rng, depth + 1)}) is {neg}{rng.choice(TESTS)}"
    if r < 0.8:
        return f"({random_expression(rng, depth + 1)}) {rng.choice(BINOPS)} ({random_expression(rng, depth + 1)})"
    if r < 0.9:
        return f"({random_expression(rng, depth + 1)}).{rng.choice(METHODS)}"
    return (f"({random_expression(rng, depth + 1)}) if ({random_expression(rng, depth + 1)}) "
            f"else ({random_expression(rng, depth + 1)})")


def snippets(count=2500, seed=20260714):
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        source = "{{ " + random_expression(rng) + " }}"
        if rng.random() < 0.3:
            source = "{% for x in " + rng.choice(["l", "w", "d", "s", "msgs", "undef", "d.items()"]) + \
                     " %}{{ loop.index }}:{{ x }}{{ ',' if not loop.last }}{% else %}none{% endfor %}|" + source
        case = {"source": source}
        try:
            # A fresh copy each time: some filters mutate their input in Python (`indent` on a list does `s += "\n"`).
            case["expected"] = compile_template(source).render(**copy.deepcopy(SNIPPET_CONTEXT))
            if " object at 0x" in case["expected"]:
                continue  # Python printed an object address: not reproducible
        except Exception as e:
            case["error"] = {"type": type(e).__name__, "message": str(e)}
        out.append(case)
    return out


TEXTS = ["a", "  ", "\n", " \t", "\n  \n", "x y", "  b\n", "\n\n", "é ", "\r\n"]


def random_layout(rng, depth=0):
    """Text, tags and comments with random whitespace control: what trim_blocks/lstrip_blocks decide."""
    def tag(body, kind="%"):
        left = rng.choice(["", "", "-", "+"]) if kind != "{" else rng.choice(["", "", "-"])
        right = rng.choice(["", "", "-", "+"]) if kind == "%" else rng.choice(["", "", "-"])
        close = {"%": "%}", "{": "}}", "#": "#}"}[kind]
        return "{" + kind + left + " " + body + " " + right + close
    parts = []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.4:
            parts.append(rng.choice(TEXTS))
        elif r < 0.55:
            parts.append(tag(rng.choice(["'v'", "n", "loop_var | default('-')"]), "{"))
        elif r < 0.65:
            parts.append(tag("comment", "#"))
        elif r < 0.75:
            parts.append(tag("set n = n + 1"))
        elif depth < 2 and r < 0.88:
            parts.append(tag(rng.choice(["if true", "if false", "if n > 0"])) + random_layout(rng, depth + 1)
                         + (tag("else") + random_layout(rng, depth + 1) if rng.random() < 0.3 else "") + tag("endif"))
        elif depth < 2:
            parts.append(tag("for loop_var in [1, 2]") + random_layout(rng, depth + 1) + tag("endfor"))
        else:
            parts.append("{% raw %}" + rng.choice(TEXTS) + "{{ x }}{% endraw %}")
    return "".join(parts)


def layouts(count=800, seed=7):
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        source = random_layout(rng)
        case = {"source": source, "context": {"n": 1}}
        try:
            case["expected"] = compile_template(source).render(n=1)
        except Exception as e:
            case["error"] = {"type": type(e).__name__, "message": str(e)}
        out.append(case)
    return out


def template_files(directory):
    names = sorted(f for f in os.listdir(directory) if f.endswith(".jinja"))
    return {f[:-len(".jinja")]: open(os.path.join(directory, f), encoding="utf-8").read() for f in names}


def digest(templates):
    h = hashlib.sha256()
    h.update(open(__file__, "rb").read())
    h.update(jinja2.__version__.encode())
    for name, source in sorted(templates.items()):
        h.update(name.encode() + b"\0" + source.encode() + b"\0")
    return h.hexdigest()


# The continue_final_message cases' conversations: the others, and an assistant reply to continue (a
# partial one, one ending in a space, one ending in a newline).
CONTINUE_CONVERSATIONS = {**CONVERSATIONS, **{
    "assistant_prefill": {"messages": [
        {"role": "user", "content": "Write a haiku about the sea."},
        {"role": "assistant", "content": "Waves fold into"},
    ]},
    "assistant_prefill_space": {"messages": [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "Give me a city."},
        {"role": "assistant", "content": "{\"city\": "},
    ]},
    "assistant_prefill_newline": {"messages": [
        {"role": "user", "content": "List two colors."},
        {"role": "assistant", "content": "1. Red\n"},
    ]},
}}


def continue_cases(templates):
    """transformers' continue_final_message over every template x conversation (no extra options)."""
    import transformers
    from transformers.utils import chat_template_utils

    class FixedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW

    chat_template_utils.datetime = FixedDatetime   # strftime_now's clock
    # transformers 5 also copies reasoning fields under other names (`thinking` for gpt-oss) in every
    # rendering; the main cases render as transformers 4 did, and so do these: only continue_final_message
    # is compared here.
    chat_template_utils._alias_reasoning_fields = lambda chat: chat
    cases = []
    for name, source in templates.items():
        for conv_name, conversation in CONTINUE_CONVERSATIONS.items():
            kwargs = TEMPLATE_KWARGS.get(name, {})
            case = {"template": name, "conversation": conv_name, "kwargs": kwargs}
            try:
                rendered, _ = chat_template_utils.render_jinja_template(
                    conversations=[copy.deepcopy(conversation["messages"])], tools=conversation.get("tools"),
                    chat_template=source, continue_final_message=True, add_generation_prompt=False,
                    bos_token=BOS, eos_token=EOS, **kwargs)
                case["expected"] = rendered[0]
            except Exception as e:
                case["error"] = {"type": type(e).__name__, "message": str(e)}
            cases.append(case)
    return transformers.__version__, cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--continue-final-message", action="store_true")
    args = ap.parse_args()

    templates = template_files(args.templates)
    key = digest(templates) + ("-continue" if args.continue_final_message else "")
    try:
        with open(args.out, encoding="utf-8") as f:
            if json.load(f).get("digest") == key:
                return
    except (OSError, ValueError):
        pass

    if args.continue_final_message:
        version, cases = continue_cases(templates)
        write(args.out, {"digest": key, "transformers": version, "jinja2": jinja2.__version__,
                         "now_utc_seconds": int(FIXED_NOW.replace(tzinfo=timezone.utc).timestamp()),
                         "bos_token": BOS, "eos_token": EOS, "templates": templates,
                         "conversations": CONTINUE_CONVERSATIONS, "cases": cases})
        return

    cases = []
    load_errors = {}
    for name, source in templates.items():
        try:
            template = compile_template(source)
        except Exception as e:  # a template jinja2 itself cannot load
            load_errors[name] = f"{type(e).__name__}: {e}"
            continue
        for conv_name, conversation in CONVERSATIONS.items():
            for add_generation_prompt in (True, False):
                for options in OPTIONS:
                    kwargs = {**options, **TEMPLATE_KWARGS.get(name, {})}
                    case = {"template": name, "conversation": conv_name,
                            "add_generation_prompt": add_generation_prompt, "kwargs": kwargs}
                    try:
                        case["expected"] = render(template, copy.deepcopy(conversation), add_generation_prompt, kwargs)
                    except Exception as e:
                        case["error"] = {"type": type(e).__name__, "message": str(e)}
                    cases.append(case)

    out = {
        "digest": key,
        "jinja2": jinja2.__version__,
        "now_utc_seconds": int(FIXED_NOW.replace(tzinfo=timezone.utc).timestamp()),
        "bos_token": BOS,
        "eos_token": EOS,
        "templates": templates,
        "load_errors": load_errors,
        "conversations": CONVERSATIONS,
        "cases": cases,
        "snippet_context": SNIPPET_CONTEXT,
        "snippets": snippets() + layouts(),
    }
    write(args.out, out)


def write(path, out):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    os.replace(tmp, path)
    print(f"wrote {len(out['cases'])} cases for {len(out['templates'])} templates to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
