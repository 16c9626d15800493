#!/usr/bin/env python3
"""Reference verdicts for StructuredOutput's JSONGrammar, from Python's own `json` module (stdlib only).

  json-grammar-cases.py cases COUNT SEED   JSON list on stdout: {"text": base64, "object": bool, "compact": bool} —
                                           `object` is true when json.loads takes the text (UTF-8, strict, no NaN /
                                           Infinity) as a dict and it keeps the grammar's stated bounds: it starts
                                           with "{", no whitespace after the last "}", no whitespace run outside
                                           strings longer than 32 bytes, nesting depth at most 128; `compact`: an
                                           object with no whitespace outside strings (disable_any_whitespace).
  json-grammar-cases.py check FILE         FILE: JSON list of [prefix, completion] (base64); stdout: the
                                           indices whose concatenation json.loads does not take as a dict.
"""
import base64
import json
import random
import sys

from json_text import MAX_WHITESPACE_RUN, depth, loads, longest_whitespace_run, mutate, command_line

MAX_DEPTH = 128


def as_object(data: bytes):
    try:
        value = loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def in_bounds(data: bytes, value) -> bool:
    return (data[:1] == b"{" and data[-1:] == b"}" and depth(value) <= MAX_DEPTH
            and longest_whitespace_run(data) <= MAX_WHITESPACE_RUN)


STRING_PIECES = ["a", "b", "key", " ", "é", "日本", "😀", "\\", '"', "\n", "\t", "\u0001", "\u007f", "/", "\ud7ff", "\ue000",
                 "\U0010ffff"]


def random_string(rng):
    return "".join(rng.choice(STRING_PIECES) for _ in range(rng.randint(0, 6)))


def random_number(rng):
    return rng.choice([0, -0, 1, -7, 12345678901234567890, 0.5, -1.25e-7, 3e300, 1e-300, rng.random(), -rng.randint(0, 10**6)])


def random_value(rng, level):
    kinds = ["string", "number", "true", "false", "null"] + (["object", "array"] * 2 if level < 6 else [])
    kind = rng.choice(kinds)
    if kind == "object":
        return {random_string(rng): random_value(rng, level + 1) for _ in range(rng.randint(0, 4))}
    if kind == "array":
        return [random_value(rng, level + 1) for _ in range(rng.randint(0, 4))]
    return {"string": lambda: random_string(rng), "number": lambda: random_number(rng),
            "true": lambda: True, "false": lambda: False, "null": lambda: None}[kind]()


def dump(rng, value) -> bytes:
    indent = rng.choice([None, None, 0, 1, 2, 4, "\t", "  \r\n"[: rng.randint(0, 4)]])
    separators = rng.choice([None, (",", ":"), (", ", ": "), (" ,\n", " :\t")])
    text = json.dumps(value, ensure_ascii=rng.random() < 0.3, indent=indent, separators=separators)
    if rng.random() < 0.2:  # escaped slashes
        text = text.replace("/", "\\/")
    return text.encode("utf-8")


HANDWRITTEN = [
    b"{}", b"{ }", b" {}", b"{}\n", b"[]", b'"a"', b"1", b"{", b"}", b'{"a":1}', b'{"a" : 1 , "b":[1,2,{}]}',
    b'{"a":01}', b'{"a":-}', b'{"a":1.}', b'{"a":1e}', b'{"a":1e+}', b'{"a":-0.0e-0}', b'{"a":1E5}', b'{"a":.5}',
    b'{"a":+1}', b'{"a":tru}', b'{"a":true}', b'{"a":nulll}', b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}',
    b'{"a":[1,]}', b'{"a":1,}', b'{,"a":1}', b'{"a"}', b'{"a":}', b'{1:2}', b'{"a":1}}', b'{"a":[}', b'{"a":{]}',
    b'{"\\x":1}', b'{"\\u12G4":1}', b'{"\\u00e9\\uD83D\\ude00\\ud800":1}', b'{"\\"\\\\\\/\\b\\f\\n\\r\\t":1}',
    b'{"a\x00":1}', b'{"a\x1f":1}', b'{"a\x7f":1}', b'{"\xc0\x80":1}', b'{"\xc2\x80":1}', b'{"\xe0\x9f\xbf":1}',
    b'{"\xe0\xa0\x80":1}', b'{"\xed\xa0\x80":1}', b'{"\xed\x9f\xbf":1}', b'{"\xf0\x8f\xbf\xbf":1}',
    b'{"\xf0\x90\x80\x80":1}', b'{"\xf4\x8f\xbf\xbf":1}', b'{"\xf4\x90\x80\x80":1}', b'{"\xf5\x80\x80\x80":1}',
    b'{"\x80":1}', b'{"\xc2":1}', b'{"a":' + b"[" * 127 + b"]" * 127 + b"}", b'{"a":' + b"[" * 128 + b"]" * 128 + b"}",
    b"{" + b" " * 32 + b"}", b"{" + b" " * 33 + b"}", b'{"a":1' + b"\r\n\t " * 8 + b"}", b'{"a":1' + b"\n" * 33 + b"}",
    b'{"a":"' + b" " * 40 + b'"}',
]


def cases(count: int, seed: int):
    rng = random.Random(seed)
    texts = list(HANDWRITTEN)
    while len(texts) < count:
        value = {random_string(rng): random_value(rng, 1) for _ in range(rng.randint(0, 5))}
        data = dump(rng, value)
        texts.append(data)
        texts.append(mutate(rng, data))
    out = []
    for data in texts:
        value = as_object(data)
        verdict = value is not None and in_bounds(data, value)
        out.append({"text": base64.b64encode(data).decode(), "object": verdict, "compact": verdict and longest_whitespace_run(data) == 0})
    json.dump(out, sys.stdout)


def check(path):
    with open(path) as f:
        pairs = json.load(f)
    bad = [i for i, (prefix, completion) in enumerate(pairs)
           if as_object(base64.b64decode(prefix) + base64.b64decode(completion)) is None]
    json.dump(bad, sys.stdout)


if __name__ == "__main__":
    command_line(cases, check, __doc__)
