#!/usr/bin/env python3
"""Reference fixtures for the Swift Tokenizer tests, produced with HF `tokenizers` (the Rust crate).

For each variant it rebuilds an HF tokenizer.json from one of llama.cpp's real vocabularies (GGUF:
tokens, merges, token types, BOS/EOS, the pre-tokenizer regexes llama-vocab.cpp lists for it), checks the
rebuild against llama.cpp's .inp/.out pairs (ids HF's own tokenizer gave; must match exactly), then
writes OUT/<variant>/{tokenizer.json, tokenizer_config.json, generation_config.json, expected.json}.
expected.json: {"cases": [{text, ids, ids_special, decoded, decoded_skip}]} for the .inp strings and
a seeded generated corpus. Nothing is regenerated when OUT/<variant>/stamp matches this script + the
tokenizers version.

usage: tokenizer-fixtures.py LLAMA_CPP_SRC OUT_DIR [CORPUS_SIZE]
"""
import hashlib
import json
import os
import random
import sys
import unicodedata

import gguf
import tokenizers
from tokenizers import Tokenizer

# --- pre-tokenizer regexes (llama.cpp src/llama-vocab.cpp), non-ASCII written as escapes: U+1F7D, U+1FD3
# and U+1FDB (range ends in the letter class) have canonical decompositions, so any normalising editor would
# silently turn them into U+03CE, U+0390, U+038A.
DEEPSEEK_LLM = [
    "[\r\n]",
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
    "\\s+$",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
    "\\p{N}+",
]
DEEPSEEK_CODER = [
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
    "\\p{N}",
]
DEEPSEEK3_LLM = [
    "\\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]

# Moonshot's TikTokenTokenizer (Moonlight, Kimi-K2: tiktoken.model + tokenization_*.py, no tokenizer.json):
# its pat_str, alternative by alternative, as the class lists them.
KIMI_PAT_PARTS = [
    r"""[\p{Han}]+""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
]
KIMI_PAT = "|".join(KIMI_PAT_PARTS)
LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Named control tokens at their offsets above the ranks (Kimi-K2's first ones).
KIMI_NAMED = {0: "[BOS]", 1: "[EOS]", 2: "<|im_end|>", 3: "<|im_user|>", 4: "<|im_assistant|>",
              6: "<|start_header_id|>", 7: "<|end_header_id|>", 9: "[EOT]", 10: "<|im_system|>", 17: "<|im_middle|>"}
KIMI_RESERVED = 256  # num_reserved_special_tokens; the class makes that + 2 control ids

# variant name -> (gguf file, regexes, merges spelling, post-processor kind)
VARIANTS = {
    "deepseek-llm": ("ggml-vocab-deepseek-llm.gguf", DEEPSEEK_LLM, "string", "template"),
    "deepseek-coder": ("ggml-vocab-deepseek-coder.gguf", DEEPSEEK_CODER, "pair", "bytelevel"),
    "deepseek-v3": ("ggml-vocab-deepseek-llm.gguf", DEEPSEEK3_LLM, "pair", "template"),
    # The DeepSeek-Coder vocabulary under every other supported component (see `components`).
    "components": ("ggml-vocab-deepseek-coder.gguf", DEEPSEEK_CODER, "pair", "bytelevel"),
    "components-fallback": ("ggml-vocab-deepseek-coder.gguf", DEEPSEEK_CODER, "pair", "bytelevel"),
}
TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED = 3, 4


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def build_tokenizer_json(gguf_path, regexes, merges_spelling, post):
    r = gguf.GGUFReader(gguf_path)
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = field(r, "tokenizer.ggml.merges")
    bos, eos = field(r, "tokenizer.ggml.bos_token_id"), field(r, "tokenizer.ggml.eos_token_id")
    added = []
    for i, (t, ty) in enumerate(zip(tokens, types)):
        if ty in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED):
            special = ty == TOKEN_TYPE_CONTROL
            added.append({"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": not special, "special": special})
    pre = [{"type": "Split", "pattern": {"Regex": rx}, "behavior": "Isolated", "invert": False} for rx in regexes]
    pre.append({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False})
    if post == "template":
        bos_t = tokens[bos]
        post_processor = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos_t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos_t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos_t, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos_t: {"id": bos_t, "ids": [bos], "tokens": [bos_t]}},
        }
    else:
        post_processor = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    spelled = merges if merges_spelling == "string" else [m.split(" ", 1) for m in merges]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": []},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": pre},
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": spelled},
    }
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": tokens[bos], "eos_token": tokens[eos],
              "model_max_length": 16384, "tokenizer_class": "LlamaTokenizerFast",
              "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"}
    generation = {"bos_token_id": bos, "eos_token_id": eos}
    return tj, config, generation, tokens, bos, eos


def components(tj, tokens, byte_fallback):
    """Rewires a rebuilt tokenizer.json to exercise the components the DeepSeek files do not use:
    normalizers, Split behaviours / invert / string patterns, lazy and bounded quantifiers, (?i:),
    Digits, ByteLevel with its own regex and prefix space, added-token lstrip / rstrip / single_word /
    normalized, Replace / Strip / Fuse / ByteFallback decoders, RobertaProcessing, ignore_merges; with
    `byte_fallback`, a raw-character BPE (no ByteLevel) whose missing characters fall back to <0xXX>."""
    vocab = tj["model"]["vocab"]
    renamed = {32022: "<tool>", 32023: "</tool>", 32024: "magic", 32025: "[SEP]"}
    for i, new in renamed.items():
        del vocab[tokens[i]]
        vocab[new] = i
    flags = {32022: dict(lstrip=True, special=True, normalized=False),
             32023: dict(rstrip=True, special=True, normalized=False),
             32024: dict(single_word=True, special=False, normalized=True),
             32025: dict(lstrip=True, rstrip=True, special=False, normalized=False)}
    for a in tj["added_tokens"]:
        if a["id"] in renamed:
            a["content"] = renamed[a["id"]]
            a.update(flags[a["id"]])
    tj["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFC" if byte_fallback else "NFKC"},
        {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
        {"type": "Replace", "pattern": {"Regex": "[ \t]{4,}"}, "content": "\t"},
        {"type": "Lowercase"},
        {"type": "Prepend", "prepend": "\u2581"},
    ]}
    split = lambda pattern, behavior, invert=False: {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert}
    pre = [
        split({"String": "-"}, "MergedWithNext"),
        split({"Regex": "[,;]"}, "Removed"),
        split({"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|\\p{Lu}\\p{Ll}*"}, "Isolated"),
        split({"Regex": "\\p{P}+?"}, "MergedWithPrevious"),
        split({"Regex": "\\p{N}{2,3}"}, "Contiguous"),
        split({"Regex": "\\s+"}, "Isolated", invert=True),
        {"type": "Digits", "individual_digits": False},
    ]
    if byte_fallback:
        base = len(tokens)
        for b in range(256):
            vocab[f"<0x{b:02X}>"] = base + b
        tj["model"]["byte_fallback"] = True
        tj["model"]["unk_token"] = None
        tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": pre + [
            {"type": "Digits", "individual_digits": True}]}
        tj["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    else:
        tj["model"]["ignore_merges"] = True
        tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": pre + [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
        tj["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "ByteFallback"},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            {"type": "Replace", "pattern": {"String": "\t"}, "content": "    "},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}, {"type": "Fuse"}]}
    tj["post_processor"] = {"type": "RobertaProcessing", "sep": [tokens[32014], 32014], "cls": [tokens[32013], 32013],
                            "trim_offsets": True, "add_prefix_space": True}
    return tj


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))


def split_long_runs(s, limit=25_000):
    """TikTokenTokenizer._split_whitespaces_or_nonwhitespaces, as its encode applies it."""
    n, space, start = 0, s[0].isspace() if s else False, 0
    for i, ch in enumerate(s):
        now = ch.isspace()
        if space ^ now:
            n, space = 1, now
        else:
            n += 1
            if n > limit:
                yield s[start:i]
                start, n = i, 1
    yield s[start:]


def llama3_ranks(src):
    """A real tiktoken vocabulary: Llama 3's ranks (bytes -> rank), which llama.cpp's
    ggml-vocab-llama-bpe.gguf holds in rank order, spelled in the byte-level alphabet."""
    r = gguf.GGUFReader(os.path.join(src, "models", "ggml-vocab-llama-bpe.gguf"))
    tokens, types = field(r, "tokenizer.ggml.tokens"), field(r, "tokenizer.ggml.token_type")
    decoder = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {}
    for i, (t, ty) in enumerate(zip(tokens, types)):
        if ty == 1:
            assert i == len(ranks), "normal tokens are not ranks 0..n-1"
            ranks[bytes(decoder[c] for c in t)] = i
    return ranks


def write_tiktoken_folder(folder, ranks, reserved, names, bos, eos, chat_template, generation):
    """A Moonshot-style tiktoken folder: tiktoken.model, a tokenization_kimi.py holding the parts of
    the class LatentServe reads (num_reserved_special_tokens = `reserved`, Kimi's pat_str), and
    tokenizer_config.json (`names`: id -> control token) / generation_config.json."""
    import base64
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tiktoken.model"), "w") as f:
        for b, i in ranks.items():
            f.write(f"{base64.b64encode(b).decode()} {i}\n")
    with open(os.path.join(folder, "tokenization_kimi.py"), "w") as f:
        f.write("# Test fixture: the parts of a TikTokenTokenizer module LatentServe reads.\n"
                f"class TikTokenTokenizer:\n    num_reserved_special_tokens = {reserved}\n\n    pat_str = \"|\".join(\n        [\n"
                + "".join(f'            r"""{p}""",\n' for p in KIMI_PAT_PARTS) + "        ]\n    )\n")
    config = {"added_tokens_decoder": {str(i): {"content": n, "lstrip": False, "normalized": False, "rstrip": False,
                                                "single_word": False, "special": True} for i, n in names.items()},
              "auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", None]},
              "bos_token": bos, "eos_token": eos, "tokenizer_class": "TikTokenTokenizer", "chat_template": chat_template}
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump(generation, f)


def build_tiktoken_folder(src, folder, size):
    """A Moonshot-style tiktoken folder from a real tiktoken vocabulary (`llama3_ranks`) with Kimi's
    pattern and control-token block; expected.json from tiktoken itself, encoding as
    TikTokenTokenizer.encode(text, add_special_tokens=...) does: the named control tokens split out
    first (PreTrainedTokenizer), each remaining segment cut by split_long_runs in 400,000-character
    chunks, then tiktoken with every control token allowed. Nothing of the class is added (no BOS)."""
    import re
    import tiktoken
    ranks = llama3_ranks(src)
    base = len(ranks)
    # The ranks must reproduce HF's Llama 3 ids (llama.cpp's .out) under Llama 3's own pattern.
    llama3 = tiktoken.Encoding("llama3", pat_str=LLAMA3_PAT, mergeable_ranks=ranks, special_tokens={})
    texts, outs = read_llama_tests(src, "ggml-vocab-llama-bpe.gguf")
    bad = [t for t, o in zip(texts, outs) if llama3.encode_ordinary(t) != o]
    if bad:
        sys.exit(f"kimi-tiktoken: Llama 3 ranks disagree with llama.cpp's .out on {len(bad)} strings, first {bad[0]!r}")
    names = {base + k: v for k, v in KIMI_NAMED.items()}
    control = {names.get(i, f"<|reserved_token_{i}|>"): i for i in range(base, base + KIMI_RESERVED + 2)}
    enc = tiktoken.Encoding("kimi", pat_str=KIMI_PAT, mergeable_ranks=ranks, special_tokens=control)
    named_split = re.compile("(" + "|".join(re.escape(n) for n in sorted(names.values(), key=len, reverse=True)) + ")")

    def encode(text):
        ids = []
        for seg in named_split.split(text):
            if seg in control and seg in names.values():
                ids.append(control[seg]); continue
            for i in range(0, len(seg), 400_000):
                for sub in split_long_runs(seg[i:i + 400_000]):
                    ids += enc.encode(sub, allowed_special="all")
        return ids

    write_tiktoken_folder(folder, ranks, KIMI_RESERVED, names, "[BOS]", "[EOS]",
                          "{% for m in messages %}<|im_{{ m['role'] }}|>{{ m['role'] }}<|im_middle|>"
                          "{{ m['content'] }}<|im_end|>{% endfor %}{% if add_generation_prompt %}"
                          "<|im_assistant|>assistant<|im_middle|>{% endif %}",
                          {"bos_token_id": base, "eos_token_id": base + 2})

    specials = list(names.values()) + [f"<|reserved_token_{base + 5}|>", f"<|reserved_token_{base + KIMI_RESERVED + 1}|>",
                                       "<|im_end", "[EOS", "<|reserved_token_1|>"]
    long_runs = ["a" * 30_000, " " * 30_001 + "x", "word " * 10 + "b" * 26_000 + "  " + "\u4e2d" * 30_000,
                 "x" * 25_000 + "<|im_end|>" + "y" * 100, "\t\n" * 13_000 + "end", "The quick brown fox. " * 20_000]
    corpus = texts + long_runs + generated_corpus(size, seed=4321, specials=specials)
    cases = []
    for text in corpus:
        ids = encode(text)
        kept = [i for i in ids if i < base]
        cases.append({"text": text, "ids": ids, "ids_special": ids,
                      "decoded": enc.decode(ids), "decoded_skip": enc.decode(kept)})
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"variant": "kimi-tiktoken", "tiktoken_version": tiktoken.__version__,
                   "inp_count": len(texts) + len(long_runs), "cases": cases}, f, ensure_ascii=False)
    print(f"kimi-tiktoken: {base} ranks reproduce {len(texts)} .inp/.out pairs; wrote {len(cases)} cases", file=sys.stderr)


def normalization_version_skew():
    """Scalars whose NFC/NFKC differs between HF tokenizers' tables (older Unicode) and Python's
    unicodedata; the components corpora leave them out (see the Swift Tokenizer's known issues)."""
    from tokenizers import normalizers
    nfkc, nfc = normalizers.NFKC(), normalizers.NFC()
    return {chr(cp) for cp in range(0x20, 0x30000) if not 0xD800 <= cp < 0xE000
            and (nfkc.normalize_str(chr(cp)) != unicodedata.normalize("NFKC", chr(cp))
                 or nfc.normalize_str(chr(cp)) != unicodedata.normalize("NFC", chr(cp)))}


def read_llama_tests(src, gguf_name):
    base = os.path.join(src, "models", gguf_name)
    with open(base + ".inp", encoding="utf-8", newline="") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    with open(base + ".out", encoding="utf-8") as f:
        outs = f.read().split("\n")
    texts[-1] = texts[-1].removesuffix("\n__ggml_vocab_test__\n")
    outs = [[int(x) for x in line.split()] for line in outs[:len(texts)]]
    return texts, outs


# --- seeded corpus -------------------------------------------------------------------------------------
def assigned(cp):
    return unicodedata.category(chr(cp)) not in ("Cn", "Cs", "Co")


def generated_corpus(n, seed, specials):
    rng = random.Random(seed)
    words = ["Hello", "world", "the", "DeepSeek", "tokenizer", "don't", "I'm", "we'll", "they've", "IT'S", "naïve",
             "café", "Äpfel", "straße", "façade", "日本語", "中文字符", "한국어", "Привет", "мир", "Ελληνικά",
             "ὐδὼρ", "ῥήτωρ", "ΐ", "ώ", "Ί", "العربية", "עברית", "हिन्दी", "ไทย", "ひらがな", "カタカナ", "ｈｅｌｌｏ",
             "Ⅻ", "½", "²", "①", "٣٤", "१२३", "µ", "ﬁ", "ǅ", "İstanbul", "ǈ", "ø", "õ", "÷", "þ"]
    code = ["def f(x):\n    return x*2\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
            "let xs = [1, 2, 3].map { $0 * 2 }", "<div class=\"a\">&amp;</div>", "SELECT * FROM t WHERE id=42;",
            "#include <stdio.h>\n", "x->y = &z; // comment", "if a != b && c >= d || !e:", "`code` **bold** _it_",
            "http://example.com/path?q=1&r=2#frag", "C:\\Users\\name\\file.txt", "a\tb\tc\n\td"]
    emoji = ["🦙", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇩🇪", "🧑🏿‍💻", "✈️", "©", "™", "👩‍❤️‍💋‍👨"]
    spaces = [" ", "  ", "   ", "\n", "\n\n", "\t", " \t ", "\r\n", "\r", "\u3000", "\u00a0", "\u2009", " \n ", "\n\n\n",
              "\t\t", "\u2028", "\u0085", "\x0b", "\x0c"]
    blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x250, 0x2ff), (0x300, 0x36f), (0x370, 0x3ff), (0x400, 0x52f),
              (0x530, 0x58f), (0x590, 0x5ff), (0x600, 0x6ff), (0x900, 0x97f), (0xe00, 0xe7f), (0x10a0, 0x10ff),
              (0x13a0, 0x13ff), (0x1c80, 0x1cbf), (0x1d00, 0x1dbf), (0x1e00, 0x1fff), (0x2000, 0x206f),
              (0x2070, 0x209f), (0x20a0, 0x20cf), (0x2100, 0x218f), (0x2190, 0x23ff), (0x2460, 0x24ff),
              (0x2500, 0x27bf), (0x2c00, 0x2cff), (0x3000, 0x303f), (0x3040, 0x30ff), (0x3100, 0x31ff),
              (0x4e00, 0x9fff), (0xa640, 0xa7ff), (0xab70, 0xabbf), (0xac00, 0xd7a3), (0xd7b0, 0xd7ff),
              (0xf900, 0xfaff), (0xfb00, 0xfb4f), (0xfe30, 0xfe4f), (0xff00, 0xffef), (0x10400, 0x104ff),
              (0x10c80, 0x10cff), (0x118a0, 0x118ff), (0x1d400, 0x1d7ff), (0x1e900, 0x1e95f), (0x1f300, 0x1faff),
              (0x20000, 0x2a6df)]

    def random_scalars(k):
        out = []
        while len(out) < k:
            if rng.random() < 0.15:
                cp = rng.randrange(0x20, 0x30000)
            else:
                lo, hi = rng.choice(blocks)
                cp = rng.randint(lo, hi)
            if assigned(cp):
                out.append(chr(cp))
        return "".join(out)

    def digits():
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))

    pieces = [
        lambda: rng.choice(words), lambda: rng.choice(words), lambda: rng.choice(code), lambda: rng.choice(emoji),
        lambda: rng.choice(spaces), lambda: rng.choice(spaces), lambda: digits(),
        lambda: random_scalars(rng.randint(1, 8)), lambda: random_scalars(rng.randint(1, 3)),
        lambda: rng.choice(specials), lambda: rng.choice("!?.,;:'\"()[]{}<>-_=+*/\\|@#$%^&~`"),
        lambda: rng.choice(words).upper() + rng.choice(["'s", "'T", "'re", "'VE", "'m", "'ll", "'D"]),
        lambda: "".join(rng.choice("0123456789٠١٢٣४५６７⁸₉") for _ in range(rng.randint(1, 7))),
    ]
    corpus = []
    for _ in range(n):
        k = rng.randint(1, 12)
        s = "".join(rng.choice(pieces)() for _ in range(k))
        if rng.random() < 0.2:
            s += rng.choice([" ", "  ", "\n", " \n", "\t "])
        if rng.random() < 0.1:
            s = rng.choice([" ", "  ", "\n"]) + s
        corpus.append(s)
    return corpus


# Patterns for the regex fixture: the pre-tokenizers' own plus each construct the Swift engine supports.
REGEX_PATTERNS = DEEPSEEK_LLM + DEEPSEEK_CODER + DEEPSEEK3_LLM + [
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",  # GPT-2
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",  # Llama 3
    "\\d+", "\\w+", "\\h+", "\\W\\D", "[^\\s\\p{L}]+", "\\p{Lu}\\p{Ll}*", "\\P{L}+", "\\p{^N}+",
    "[\\p{Sm}\\p{Sc}\\p{Sk}\\p{So}]+", "\\p{Mn}|\\p{Zs}", "\\p{Letter}+",
    "a*?b", "\\s++", "\\p{L}?+", "o{2,}", "o{,2}", "(?:ab){1,2}", "(?=\\p{Lu})\\p{L}+", "\\s+(?=\\p{N})",
    "[[a-e]x-z]+", "[a\\-z]+", "[]a]+", "^\\s+|\\s+$", "\\A\\s*\\S|\\S\\s*\\z", "\\s\\Z", ".+", "(?i)h[a-e]llo|WORLD",
    "(?i:[a-c]+)", "\\x41|\\x{1F600}|\\t", "(a|ab)(c|bcd)", "(?<word>\\p{L})+?\\s",
    KIMI_PAT, "\\p{Han}+", "\\P{Han}+", "[\\p{Han}\\p{N}]+", "[\\p{L}&&[^\\p{Han}]]+", "[a-z&&[^aeiou]]+",
    "[^\\p{L}&&\\p{Ll}]+", "[\\p{L}\\p{N}&&[^a-z]&&[^0-4]]+", "[[a-m]&&[h-z]]+",
]


def regex_cases(texts):
    from tokenizers import Regex, pre_tokenizers
    out = []
    for pattern in REGEX_PATTERNS:
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        for text in texts:
            out.append({"pattern": pattern, "text": text, "pieces": [p for p, _ in split.pre_tokenize_str(text)]})
    return out


def main():
    src, out = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    with open(__file__, "rb") as f:
        stamp = hashlib.sha256(f.read() + tokenizers.__version__.encode() + str(size).encode()).hexdigest()
    regex_path = os.path.join(out, "regex", "expected.json")
    regex_stamp = os.path.join(out, "regex", "stamp")
    if not (os.path.exists(regex_stamp) and open(regex_stamp).read() == stamp):
        os.makedirs(os.path.dirname(regex_path), exist_ok=True)
        texts = generated_corpus(300, seed=99, specials=["<x>"]) + [
            "Hello WORLD hello World's I'M", "aab abab abcd", "  lead\ntrail  \n", "booo bo boo", "A\u0301b\u00a0c",
            "x\t\ty\r\nz", "\U0001F600 ok", "naïve façade 123 ４５ ٣", "]]a] [a-z] -x-"]
        with open(regex_path, "w", encoding="utf-8") as f:
            json.dump({"cases": regex_cases(texts)}, f, ensure_ascii=False)
        with open(regex_stamp, "w") as f:
            f.write(stamp)
        print(f"regex: wrote {len(REGEX_PATTERNS)} patterns x {len(texts)} strings", file=sys.stderr)
    tiktoken_folder = os.path.join(out, "kimi-tiktoken")
    if not (os.path.exists(os.path.join(tiktoken_folder, "stamp")) and open(os.path.join(tiktoken_folder, "stamp")).read() == stamp):
        build_tiktoken_folder(src, tiktoken_folder, size)
        with open(os.path.join(tiktoken_folder, "stamp"), "w") as f:
            f.write(stamp)
    for name, (gguf_name, regexes, spelling, post) in VARIANTS.items():
        folder = os.path.join(out, name)
        stamp_path = os.path.join(folder, "stamp")
        if os.path.exists(stamp_path) and open(stamp_path).read() == stamp:
            print(f"{name}: current", file=sys.stderr)
            continue
        os.makedirs(folder, exist_ok=True)
        tj, config, generation, tokens, bos, eos = build_tokenizer_json(
            os.path.join(src, "models", gguf_name), regexes, spelling, post)
        if name.startswith("components"):
            tj = components(tj, tokens, byte_fallback=name.endswith("fallback"))
            config = {k: v for k, v in config.items() if k not in ("add_bos_token", "add_eos_token")}
        tok_path = os.path.join(folder, "tokenizer.json")
        with open(tok_path, "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        tok = Tokenizer.from_file(tok_path)

        texts, outs = read_llama_tests(src, gguf_name)
        cases_inp = texts
        if name in ("deepseek-llm", "deepseek-coder"):  # .out holds HF's ids for the original files only
            bad = [(t, o, tok.encode(t, add_special_tokens=False).ids) for t, o in zip(texts, outs)
                   if tok.encode(t, add_special_tokens=False).ids != o]
            if bad:
                t, o, got = bad[0]
                sys.exit(f"{name}: rebuilt tokenizer.json disagrees with llama.cpp's .out on {len(bad)} of "
                         f"{len(texts)} strings, first {t!r}: expected {o}, got {got}")
            print(f"{name}: rebuild reproduces {len(texts)} .inp/.out pairs", file=sys.stderr)

        specials = [a["content"] for a in tj["added_tokens"] if not a["content"].startswith("[PAD")]
        specials += [" <tool> ", "x</tool>  y", " magic ", "MAGIC", "a magic.", "amagic", "  [SEP]  ", "-9-", "a, b; c"]
        corpus = generated_corpus(size, seed=1234, specials=specials)
        if name.startswith("components"):
            skew = normalization_version_skew()
            corpus = [t for t in generated_corpus(size + size // 20 + 10, seed=1234, specials=specials)
                      if not skew.intersection(t)][:size]
            print(f"{name}: {len(skew)} scalars with version-dependent normalization left out", file=sys.stderr)
        cases = []
        for text in cases_inp + corpus:
            ids = tok.encode(text, add_special_tokens=False).ids
            ids_special = tok.encode(text, add_special_tokens=True).ids
            if post == "bytelevel" and config.get("add_bos_token"):
                # transformers' LlamaTokenizerFast turns add_bos_token into a BOS template over this file
                ids_special = [bos] + ids_special
            cases.append({"text": text, "ids": ids, "ids_special": ids_special,
                          "decoded": tok.decode(ids, skip_special_tokens=False),
                          "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
        with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
            json.dump({"variant": name, "tokenizers_version": tokenizers.__version__, "inp_count": len(cases_inp),
                       "cases": cases}, f, ensure_ascii=False)
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False)
        with open(os.path.join(folder, "generation_config.json"), "w", encoding="utf-8") as f:
            json.dump(generation, f)
        with open(stamp_path, "w") as f:
            f.write(stamp)
        print(f"{name}: wrote {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
