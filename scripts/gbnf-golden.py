#!/usr/bin/env python3
"""Driver of scripts/gbnf-golden (stdlib only): gathers llama.cpp's GBNF grammars and test strings, has the
harness (scripts/gbnf-golden.cpp, linked against llama.cpp's libllama) give its verdicts, writes the fixture.

  gbnf-golden.py --harness BIN --llama SRC --source TEXT --out FILE [--seed 1] [--walks 25] [--mutations 25]

Grammars: SRC/grammars/*.gbnf; from SRC/tests/test-grammar-integration.cpp every test_grammar / test call whose
grammar is a string literal (with its passing and failing strings; test_schema calls go through the JSON-schema
converter and are left out) and every `std::string NAME = "literal";` (the grammars of the missing-root,
missing-reference, left-recursion and root-symbol tests, fed to test_build_grammar_fails or the parser there);
from SRC/tests/test-grammar-parser.cpp the grammar of every verify_failure and verify_parsing call. C++ literals
are decoded as the compiler would (raw strings, escapes, u8, adjacent literals, `+`); strings built with the
test's token(N) are token sequences, not text, and are left out. Every valid grammar without token syntax also
gets --walks random walks by llama.cpp and --mutations one-code-point edits (insert, delete, replace) of its
passing and walk strings, all seeded from --seed and the grammar's name.
"""
import argparse
import glob
import json
import os
import random
import re
import subprocess
import sys
import zlib

# ---------------------------------------------------------------- C++ source: tokens and string literals

SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39, '"': 34, "?": 63}


def utf8(cp):
    return chr(cp).encode("utf-8", "surrogatepass")


def decode_escapes(body):
    """Bytes of an ordinary (narrow or u8) C++ string literal body, UTF-8 execution character set."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = body[i + 1]
        if e in SIMPLE_ESCAPES:
            out.append(SIMPLE_ESCAPES[e])
            i += 2
        elif e == "x":
            m = re.match(r"[0-9A-Fa-f]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        elif e in "uU":
            n = 4 if e == "u" else 8
            out += utf8(int(body[i + 2:i + 2 + n], 16))
            i += 2 + n
        else:
            raise ValueError(f"unknown escape \\{e}")
    return bytes(out)


TOKEN_RE = re.compile(r"""
    (?P<ws>\s+) | (?P<line>//[^\n]*) | (?P<block>/\*.*?\*/)
  | (?P<raw>(?:u8|u|U|L)?R"(?P<delim>[^()\\\s]{0,16})\()
  | (?P<str>(?:u8|u|U|L)?"(?P<body>(?:[^"\\\n]|\\.)*)")
  | (?P<chr>(?:u8|u|U|L)?'(?:[^'\\\n]|\\.)*')
  | (?P<id>[A-Za-z_]\w*) | (?P<num>\d[\w.']*) | (?P<op>::|->|.)
""", re.X | re.S)


def lex(src):
    """C++ tokens: (kind, value, offset); kind is 'str' (value: bytes), 'id', 'num', 'op'."""
    toks, pos = [], 0
    while pos < len(src):
        m = TOKEN_RE.match(src, pos)
        if m.group("raw"):
            end = src.index(")" + m.group("delim") + '"', m.end())
            toks.append(("str", src[m.end():end].encode("utf-8"), pos))
            pos = end + len(m.group("delim")) + 2
            continue
        if m.group("str"):
            toks.append(("str", decode_escapes(m.group("body")), pos))
        elif m.group("id"):
            toks.append(("id", m.group("id"), pos))
        elif m.group("num"):
            toks.append(("num", m.group("num"), pos))
        elif m.group("op"):
            toks.append(("op", m.group("op"), pos))
        elif m.group("chr"):
            toks.append(("chr", m.group("chr"), pos))
        pos = m.end()
    return toks


class Value:
    """A string expression: parts are bytes or ('token', n) (the test's token(n) marker)."""
    def __init__(self, parts):
        self.parts = parts

    def __add__(self, other):
        return Value(self.parts + other.parts)

    @property
    def has_tokens(self):
        return any(isinstance(p, tuple) for p in self.parts)

    def text(self):
        """The UTF-8 text, or None (token markers, invalid UTF-8)."""
        if self.has_tokens:
            return None
        try:
            return b"".join(self.parts).decode("utf-8")
        except UnicodeDecodeError:
            return None


class Args:
    def __init__(self, toks, defs, func):
        self.toks, self.defs, self.func = toks, defs, func

    def expr(self, i):
        """-> (value, next index); value: Value, list of values, ('ref', name) unresolved, or None (other)."""
        kind, val, _ = self.toks[i]
        if kind == "op" and val == "{":
            items, i = [], i + 1
            while not (self.toks[i][0] == "op" and self.toks[i][1] == "}"):
                v, i = self.expr(i)
                items.append(v)
                if self.toks[i][1] == ",":
                    i += 1
            return items, i + 1
        value, i = self.term(i)
        while self.toks[i][0] == "op" and self.toks[i][1] == "+":
            rhs, i = self.term(i + 1)
            value = value + rhs if isinstance(value, Value) and isinstance(rhs, Value) else None
        return value, i

    def term(self, i):
        kind, val, _ = self.toks[i]
        if kind == "str":
            parts = []
            while self.toks[i][0] == "str":
                parts.append(self.toks[i][1])
                i += 1
            return Value(parts), i
        if kind == "id":
            if self.toks[i + 1][1] == "(":
                close = matching(self.toks, i + 1)
                if val == "token" and close == i + 3 and self.toks[i + 2][0] == "num":
                    return Value([("token", int(self.toks[i + 2][1], 0))]), close + 1
                return None, close + 1
            j = i + 1
            while self.toks[j][1] == "." and self.toks[j + 1][0] == "id" and self.toks[j + 2][1] == "(":
                j = matching(self.toks, j + 2) + 1  # grammar_str.c_str()
            return self.defs.get((self.func, val), ("ref", val)), j
        if kind == "op" and val == "(":
            close = matching(self.toks, i)
            return None, close + 1
        return None, i + 1

    def call(self, open_paren):
        args, i = [], open_paren + 1
        while not (self.toks[i][0] == "op" and self.toks[i][1] == ")"):
            v, i = self.expr(i)
            args.append(v)
            if self.toks[i][1] == ",":
                i += 1
            elif self.toks[i][1] != ")":
                i = matching_until_comma(self.toks, i)
        return args


def matching(toks, i):
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][0] == "op" and toks[j][1] in "({[":
            depth += 1
        elif toks[j][0] == "op" and toks[j][1] in ")}]":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced")


def matching_until_comma(toks, i):
    depth = 0
    while True:
        k, v, _ = toks[i]
        if k == "op" and v in "({[":
            depth += 1
        elif k == "op" and v in ")}]":
            if depth == 0:
                return i
            depth -= 1
        elif k == "op" and v == "," and depth == 0:
            return i
        i += 1


def scan_calls(src, names):
    """Calls of the given functions (not their definitions) and `std::string NAME = literal;` definitions.
    Yields ('call', func, name, args, line) and ('def', func, var, Value, line)."""
    toks = lex(src)
    toks += [("op", ";", len(src))] * 4
    depth, func, defs = 0, None, {}
    line_of = lambda off: src.count("\n", 0, off) + 1
    i = 0
    while i < len(toks) - 4:
        kind, val, off = toks[i]
        if kind == "op" and val == "{":
            depth += 1
        elif kind == "op" and val == "}":
            depth -= 1
        elif kind == "id" and depth == 0 and toks[i + 1][1] == "(":
            func = val
        elif kind == "id" and depth > 0 and val == "string" and toks[i + 1][0] == "id" and toks[i + 2][1] == "=" \
                and toks[i + 3][0] == "str":
            v, _ = Args(toks, defs, func).expr(i + 3)
            defs[(func, toks[i + 1][1])] = v
            yield ("def", func, toks[i + 1][1], v, line_of(off))
        elif kind == "id" and depth > 0 and val in names and toks[i + 1][1] == "(" and toks[i - 1][0] != "id":
            args = Args(toks, defs, func).call(i + 1)
            yield ("call", func, val, args, line_of(off))
        i += 1


# ---------------------------------------------------------------- GBNF: does the text use token syntax?

def uses_token_syntax(text):
    """True when `<` or `!` occurs outside string literals, character classes and comments."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            while i < n and text[i] not in "\r\n":
                i += 1
        elif c in "\"[":
            close = '"' if c == '"' else "]"
            i += 1
            while i < n and text[i] != close:
                i += 2 if text[i] == "\\" else 1
        elif c in "<!":
            return True
        i += 1
    return False


# ---------------------------------------------------------------- harness

class Harness:
    def __init__(self, path, log):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                  text=True, encoding="ascii", bufsize=1)

    def ask(self, line, n=1):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = [self.p.stdout.readline().rstrip("\n") for _ in range(n)]
        if any(o == "" and self.p.poll() is not None for o in out):
            raise SystemExit(f"gbnf-golden: the harness died on: {line[:80]}")
        return out

    def load(self, text):
        r = self.ask("G " + text.encode("utf-8").hex())[0].split(" ")
        if r[1] == "0":
            return False, False, []
        return True, r[2] == "1", [int(h, 16) for h in r[3].split(",")]

    def check(self, s):
        r = self.ask("C " + ",".join("%x" % ord(c) for c in s))[0].split(" ")
        return (r[0], int(r[1])) if r[0] == "rejected" else (r[0], None)

    def walks(self, seed, count):
        out = []
        for line in self.ask(f"W {seed} {count}", count):
            verdict, _, cps = line.partition(" ")
            out.append((verdict, "".join(chr(int(h, 16)) for h in cps.split(",") if h)))
        return out

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def mutate(rng, s, alphabet):
    cps = list(s)
    op = rng.choice(["insert", "delete", "replace"] if cps else ["insert"])
    if op == "insert":
        cps.insert(rng.randrange(len(cps) + 1), chr(rng.choice(alphabet)))
    elif op == "delete":
        del cps[rng.randrange(len(cps))]
    else:
        cps[rng.randrange(len(cps))] = chr(rng.choice(alphabet))
    return "".join(cps)


def self_test():
    assert decode_escapes(r"a\n\t\"\\\x41\u00e9\U0001F600\101\0") == "a\n\t\"\\Aé😀A\0".encode()
    toks = lex('u8"é" R"""(x"y)\n)""" R"d(])d" "a" "b" // c\n/* d */ \'x\'')
    assert [t[1] for t in toks if t[0] == "str"] == ["é".encode(), b'x"y)\n', b"]", b"a", b"b"], toks
    assert uses_token_syntax('root ::= <[10]> x') and uses_token_syntax('root ::= !<[1]>')
    assert not uses_token_syntax('root ::= "<!" [<!\\]] # <x>\n')


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", required=True)
    ap.add_argument("--llama", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--walks", type=int, default=25)
    ap.add_argument("--mutations", type=int, default=25)
    a = ap.parse_args()
    self_test()

    # entries: name, text, expect_valid (None: no expectation), [(text, expected 'pass'|'fail')]
    entries, skipped, notes = [], [], []
    for path in sorted(glob.glob(os.path.join(a.llama, "grammars", "*.gbnf"))):
        with open(path, encoding="utf-8") as f:
            entries.append(("grammars/" + os.path.basename(path), f.read(), True, []))

    def strings(name, values, expect):
        out = []
        for v in values:
            t = v.text() if isinstance(v, Value) else None
            if t is None or "\0" in t:
                why = "token(N) markers" if isinstance(v, Value) and v.has_tokens else "not a UTF-8 literal without NUL"
                skipped.append(f"{name}: a {expect}ing string ({why})")
            else:
                out.append((t, expect))
        return out

    integration = os.path.join(a.llama, "tests", "test-grammar-integration.cpp")
    with open(integration, encoding="utf-8") as f:
        src = f.read()
    # what the integration test asserts of the grammars it builds with root "root" (None: it builds with another root)
    expect_by_func = {"test_failure_missing_root": False, "test_failure_missing_reference": False,
                      "test_failure_left_recursion": False, "test_custom_root_symbol_check": False,
                      "test_failure_missing_root_symbol": None}
    n_schema = 0
    for item in scan_calls(src, {"test_grammar", "test", "test_build_grammar_fails", "test_schema"}):
        if item[0] == "def":
            _, func, var, v, line = item
            t = v.text() if isinstance(v, Value) else None
            if t is None:
                skipped.append(f"integration line {line}: {var} (not a plain literal)")
                continue
            entries.append((f"integration: {func}: {var}", t, expect_by_func.get(func), []))
            continue
        _, func, callee, args, line = item
        if func in ("test_grammar", "test_schema"):
            continue  # the wrappers' own call of test()
        if callee == "test_schema":
            n_schema += 1
            continue
        if callee == "test_build_grammar_fails":
            v = args[0]
            if isinstance(v, Value) and v.text() is not None and not any(e[1] == v.text() for e in entries):
                entries.append((f"integration: build fails (line {line})", v.text(), False, []))
            continue
        desc, grammar, passing, failing = args
        if not isinstance(grammar, Value) or grammar.text() is None:
            skipped.append(f"integration line {line}: {callee} whose grammar is not a literal")
            continue
        name = "integration: " + (desc.text() if isinstance(desc, Value) else f"line {line}")
        entries.append((name, grammar.text(), True,
                        strings(name, passing, "pass") + strings(name, failing, "fail")))
    notes.append(f"{n_schema} test_schema calls (their grammar is made by json_schema_to_grammar)")
    with open(os.path.join(a.llama, "tests", "test-grammar-parser.cpp"), encoding="utf-8") as f:
        src = f.read()
    n = {"verify_failure": 0, "verify_parsing": 0}
    for item in scan_calls(src, set(n)):
        if item[0] != "call":
            continue
        _, _, callee, args, line = item
        n[callee] += 1
        kind = "failure" if callee == "verify_failure" else "success"
        entries.append((f"parser {kind} {n[callee]}", args[0].text(), callee == "verify_parsing", []))

    # unique names
    seen = {}
    for i, e in enumerate(entries):
        seen[e[0]] = seen.get(e[0], 0) + 1
        if seen[e[0]] > 1:
            entries[i] = (f"{e[0]} ({seen[e[0]]})",) + e[1:]

    h = Harness(a.harness, open(a.log, "w") if a.log != os.devnull else subprocess.DEVNULL)
    grammars, problems = [], []
    for name, text, expect_valid, tests in entries:
        valid, token_elems, alphabet = h.load(text)
        tokens = uses_token_syntax(text)
        if valid and token_elems != tokens:
            problems.append(f"{name}: token syntax by the lexer {tokens}, token elements in llama.cpp's rules {token_elems}")
        tokens = tokens or token_elems
        if expect_valid is not None and valid != expect_valid:
            problems.append(f"{name}: llama.cpp says valid={valid}, the test file expects {expect_valid}")
        cases, have = [], set()

        def add(s, origin, verdict=None):
            if s in have:
                return None
            have.add(s)
            v, at = h.check(s)
            if verdict is not None and v != verdict:
                problems.append(f"{name}: walk {s!r} ended {verdict}, rechecked {v}")
            c = {"text": s, "verdict": v}
            if at is not None:
                c["rejected_at"] = at
            c["from"] = origin
            cases.append(c)
            return v

        if valid and not tokens:
            for s, expect in tests:
                v = add(s, expect)
                if v is not None and (v == "complete") != (expect == "pass"):
                    problems.append(f"{name}: {expect}ing string {s!r} came out {v}")
            seed = (zlib.crc32(name.encode()) ^ a.seed) & 0xFFFFFFFF
            for verdict, s in h.walks(seed, a.walks):
                add(s, "walk", verdict)
            rng = random.Random(f"{a.seed}:{name}")
            pool = [c["text"] for c in cases if c["from"] in ("pass", "walk") and c["verdict"] != "rejected"] or [""]
            made, tries = 0, 0
            while made < a.mutations and tries < 20 * a.mutations:
                tries += 1
                if add(mutate(rng, rng.choice(pool), alphabet), "mutation") is not None:
                    made += 1
        elif tests:
            why = "token syntax" if valid else "invalid grammar"
            skipped.append(f"{name}: its {len(tests)} test strings ({why})")
        grammars.append({"name": name, "text": text, "valid": valid, "uses_tokens": tokens, "cases": cases})
    h.close()

    with open(a.out, "w", encoding="utf-8") as f:
        f.write('{\n  "source": %s,\n  "generator": %s,\n  "grammars": [\n' % (
            json.dumps(a.source, ensure_ascii=False),
            json.dumps(f"scripts/gbnf-golden (seed {a.seed}, {a.walks} walks, {a.mutations} mutations per grammar)")))
        for gi, g in enumerate(grammars):
            head = {k: g[k] for k in ("name", "text", "valid", "uses_tokens")}
            f.write("    " + json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [')
            for ci, c in enumerate(g["cases"]):
                f.write(("\n      " if ci == 0 else ",\n      ") + json.dumps(c, ensure_ascii=False))
            f.write(("\n    ]}" if g["cases"] else "]}") + ("," if gi + 1 < len(grammars) else "") + "\n")
        f.write("  ]\n}\n")
    json.load(open(a.out, encoding="utf-8"))  # well-formed

    by = {}
    for g in grammars:
        for c in g["cases"]:
            by[c["verdict"]] = by.get(c["verdict"], 0) + 1
    origin = {}
    for g in grammars:
        for c in g["cases"]:
            origin[c["from"]] = origin.get(c["from"], 0) + 1
    nv = sum(g["valid"] for g in grammars)
    print(f"gbnf-golden: {len(grammars)} grammars ({nv} valid, {len(grammars) - nv} invalid, "
          f"{sum(g['uses_tokens'] for g in grammars)} with token syntax), "
          f"{sum(len(g['cases']) for g in grammars)} cases: " + ", ".join(f"{k} {by[k]}" for k in sorted(by))
          + " | from " + ", ".join(f"{k} {origin[k]}" for k in sorted(origin))
          + f" | {os.path.getsize(a.out)} bytes -> {a.out}")
    counted = {}
    for s in skipped:
        counted[s] = counted.get(s, 0) + 1
    for s in notes + [f"{k} x{n}" if n > 1 else k for k, n in counted.items()]:
        print("  left out: " + s)
    for p in problems:
        print("  DISAGREEMENT: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
