#!/usr/bin/env python3
"""Reference verdicts for StructuredOutput's RegexAutomaton, from Python's `re` (texts drawn by hypothesis's
`from_regex`, from PyPI; run by the test through scripts/python-env).

  regex-cases.py cases COUNT SEED   JSON on stdout: {"patterns": [pattern], "cases": [{"pattern": i, "text": base64,
                                    "valid": bool}], "errors": [pattern Python's re refuses]}. `valid`: the text is
                                    UTF-8 and re.fullmatch(pattern, text, re.ASCII) matches it. Patterns: a fixed
                                    list, then random ones over a small alphabet (ASCII and multibyte).
  regex-cases.py check FILE         FILE: JSON list of [pattern, prefix, completion] (base64); stdout: the indices
                                    whose concatenation re.fullmatch refuses.
"""
import base64
import json
import random
import re
import sys
import warnings

from hypothesis import HealthCheck, given, settings, strategies as st

from json_text import command_line, mutate

PATTERNS = [
    r"\d{3}-\d{3}-\d{4}",
    r"(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])",
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,6}",
    r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)",
    r"(yes|no|maybe)",
    r"^[Tt]he (quick|lazy) \w+ (jumps?|sleeps?)[.!]$",
    r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?",
    r"[^\n]{0,20}\n[^\n]*",
    r"(?:ab|c)*d?",
    r"(?P<word>\w+)(, (?P<more>\w+)){0,3}",
    r"[äöü€😀-😂]+[^\x00-\x7f]?",
    r"\s*\S+\s*",
    r".{2,5}",
    r"a{2}b{1,}c{,2}d{0}",
    r"\x41\u00e9\U0001F600[\x30-\x39]",
    r"[\w.-]+|\[[^\]]*\]",
    r"(a|b)*a(a|b){5}",
    r"",
    r"[\D][\W][\S]",
    r"x{2,}?y??z*?",
    r"\\\.\*\+\?\(\)\[\]\{\}\|\^\$",
    r"[]a-][^]b]",
]

ERRORS = [r"a**", r"(ab", r"ab)", r"[a-", r"{2}", r"a{3,2}", r"\q", r"[z-a]", r"*a", r"a|*", r"[\d-z]"]

ALPHABET = ["a", "b", "c", "0", "1", "é", "€", "😀", " ", "\n", "."]


def random_pattern(rng, depth=0):
    """A random pattern over ALPHABET: literals, classes, groups, alternation and repeats."""
    def atom():
        r = rng.random()
        if r < 0.45 or depth > 2:
            return re.escape(rng.choice(ALPHABET))
        if r < 0.6:
            members = "".join(re.escape(c) for c in rng.sample(ALPHABET, rng.randint(1, 4)))
            return f"[{'^' if rng.random() < 0.25 else ''}{members}]"
        if r < 0.7:
            return rng.choice([r"\d", r"\w", r"\s", r"\D", r"\S", "."])
        return "(" + random_pattern(rng, depth + 1) + ")"

    def piece():
        text = atom()
        if depth > 0:       # no repeat inside a repeated group: re would backtrack exponentially on a miss
            return text
        r = rng.random()
        if r < 0.15:
            text += "*"
        elif r < 0.25:
            text += "+"
        elif r < 0.35:
            text += "?"
        elif r < 0.45:
            low = rng.randint(0, 3)
            text += rng.choice([f"{{{low}}}", f"{{{low},}}", f"{{{low},{low + rng.randint(0, 3)}}}", f"{{,{low + 1}}}"])
        return text

    options = ["".join(piece() for _ in range(rng.randint(1, 4))) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    return "|".join(options)


def valid(data: bytes, pattern) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return re.fullmatch(pattern, text, re.ASCII) is not None


def examples(pattern, count):
    """Texts hypothesis draws for the pattern (with re.ASCII where its alphabet allows the pattern's
    literals, else without: the verdict is re.ASCII's either way)."""
    found = []
    for flags in (re.ASCII, 0):
        @settings(max_examples=count, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.from_regex(re.compile(pattern, flags), fullmatch=True))
        def collect(text):
            found.append(text)
        try:
            collect()
            return found
        except Exception:
            found.clear()
    return found


def cases(count, seed):
    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    patterns = list(PATTERNS)
    while len(patterns) < len(PATTERNS) + count:
        p = random_pattern(rng)
        try:
            re.compile(p, re.ASCII)
        except re.error:
            continue
        patterns.append(p)
    out = []
    for index, pattern in enumerate(patterns):
        texts = [t.encode("utf-8", "surrogatepass") for t in examples(pattern, 12 if index >= len(PATTERNS) else 40)]
        texts += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6))).encode() for _ in range(10)]
        for data in list(texts):
            texts.append(mutate(rng, data))
        for data in texts:
            out.append({"pattern": index, "text": base64.b64encode(data).decode(), "valid": valid(data, pattern)})
    for p in ERRORS:
        try:
            re.compile(p, re.ASCII)
            sys.exit(f"{p!r} was expected to be refused by re")
        except re.error:
            pass
    json.dump({"patterns": patterns, "cases": out, "errors": ERRORS}, sys.stdout)


def check(path):
    with open(path) as f:
        triples = json.load(f)
    bad = [i for i, (pattern, prefix, completion) in enumerate(triples)
           if not valid(base64.b64decode(prefix) + base64.b64decode(completion), pattern)]
    json.dump(bad, sys.stdout)


if __name__ == "__main__":
    command_line(cases, check, __doc__)
