"""What the JSON reference scripts (json-grammar-cases.py, json-schema-cases.py) share: Python's `json`
read strictly, and the bounds LatentServe's JSON grammars add to JSON."""
import json
import sys

MAX_WHITESPACE_RUN = 32     # JSONGrammar.maxWhitespaceRun


def no_constants(name):
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes, **hooks):
    """The value of UTF-8 JSON text (no NaN / Infinity); ValueError (or UnicodeDecodeError) otherwise."""
    return json.loads(data.decode("utf-8"), parse_constant=no_constants, **hooks)


def depth(value) -> int:
    """Containers nested in a value (0 for a scalar)."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def longest_whitespace_run(data: bytes) -> int:
    """Of a valid JSON text: the longest run of whitespace outside strings."""
    longest = run = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == ord("\\"):
                escaped = True
            elif byte == ord('"'):
                in_string = False
            continue
        in_string = byte == ord('"')
        run = run + 1 if byte in b" \t\n\r" else 0
        longest = max(longest, run)
    return longest


def escaped_key(data: bytes) -> bool:
    """Of a valid JSON text: whether an object key is written with an escape (a string followed by `:`)."""
    in_string = escaped = had_escape = False
    after_string = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == ord("\\"):
                escaped = had_escape = True
            elif byte == ord('"'):
                in_string, after_string = False, True
            continue
        if byte in b" \t\n\r":
            continue
        if after_string and byte == ord(":") and had_escape:
            return True
        after_string = False
        if byte == ord('"'):
            in_string, had_escape = True, False
    return False


# Bytes a mutation writes: JSON's punctuation and literals' letters, digits, and bytes at UTF-8's edges.
MUTATION_BYTES = b'{}[]:,"\\ -+.eE0123456789tfnrulsabx/\n\x00\x1f\x7f\x80\xbf\xc0\xc2\xc3\xe0\xed\xf0\xf4\xf5\xff'


def mutate(rng, data: bytes) -> bytes:
    """`data` with one to three bytes replaced, inserted or deleted."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(b) + 1)
        op = rng.random()
        byte = rng.choice(MUTATION_BYTES)
        if op < 0.4 and where < len(b):
            b[where] = byte
        elif op < 0.7:
            b.insert(where, byte)
        elif where < len(b):
            del b[where]
    return bytes(b)


def command_line(cases, check, usage):
    """Both scripts' commands: `cases COUNT SEED` and `check FILE`."""
    if sys.argv[1:2] == ["cases"]:
        cases(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["check"]:
        check(sys.argv[2])
    else:
        sys.exit(usage)
