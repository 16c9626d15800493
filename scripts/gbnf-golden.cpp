// llama.cpp's own GBNF verdicts, for scripts/gbnf-golden (which builds this against the peer's libllama and drives
// it from scripts/gbnf-golden.py). Line protocol on stdin / stdout; code points and bytes are lowercase hex:
//
//   G <hex UTF-8 bytes of the grammar>   load it: llama_grammar_init_impl(nullptr, text, "root", false, nullptr, 0,
//                                        nullptr, 0). Answers "V 0" when that returns null, else
//                                        "V 1 <token elements 0|1> <alphabet: code points, comma-separated>":
//                                        the walk alphabet (printable ASCII, \t, \n, U+00E9 U+20AC U+4E2D U+1F600,
//                                        every code point of the grammar text and every char value in its rules;
//                                        NUL, surrogates and values above U+10FFFF left out).
//   C <code points, comma-separated>     feed them one at a time from the initial stacks (llama_grammar_accept);
//                                        answers "complete", "prefix" or "rejected <index of the refused one>".
//   W <seed> <count>                     <count> random walks from the initial stacks (std::mt19937, the draw taken
//                                        modulo the number of choices): each step keeps the alphabet's code points
//                                        that leave a stack after llama_grammar_accept on a copy of the stacks,
//                                        stops with probability 3/10 when a stack is empty (a whole match), when no
//                                        code point is kept, or at 120 code points. One line per walk:
//                                        "<complete|prefix> <code points>".
#include "../src/llama-grammar.h"

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

static llama_grammar * grammar = nullptr;
static llama_grammar_stacks initial;
static std::vector<uint32_t> alphabet;

static bool scalar(uint32_t c) { return c != 0 && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF); }

static std::vector<uint32_t> parse_cps(const std::string & s) {
    std::vector<uint32_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (!item.empty()) out.push_back(static_cast<uint32_t>(std::stoul(item, nullptr, 16)));
    }
    return out;
}

static std::string hex_cps(const std::vector<uint32_t> & cps) {
    std::string out;
    char buf[16];
    for (size_t i = 0; i < cps.size(); i++) {
        snprintf(buf, sizeof buf, i ? ",%x" : "%x", cps[i]);
        out += buf;
    }
    return out;
}

static std::string unhex(const std::string & h) {
    std::string out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoul(h.substr(i, 2), nullptr, 16)));
    return out;
}

static bool can_end(const llama_grammar_stacks & stacks) {
    for (const auto & s : stacks) if (s.empty()) return true;
    return false;
}

// UTF-8 -> code points (the grammar text is valid UTF-8: the driver reads it as such)
static std::vector<uint32_t> decode(const std::string & s) {
    std::vector<uint32_t> out;
    for (size_t i = 0; i < s.size();) {
        unsigned char b = s[i];
        int n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        uint32_t v = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
        for (int k = 1; k < n && i + k < s.size(); k++) v = (v << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out.push_back(v);
        i += n;
    }
    return out;
}

static void load(const std::string & text) {
    if (grammar) llama_grammar_free_impl(grammar);
    grammar = llama_grammar_init_impl(nullptr, text.c_str(), "root", false, nullptr, 0, nullptr, 0);
    if (!grammar) { std::cout << "V 0\n"; return; }
    initial = llama_grammar_get_stacks(grammar);
    std::set<uint32_t> seen;
    alphabet.clear();
    auto add = [&](uint32_t c) { if (scalar(c) && seen.insert(c).second) alphabet.push_back(c); };
    for (uint32_t c = 0x20; c <= 0x7e; c++) add(c);
    for (uint32_t c : {0x0Au, 0x09u, 0xE9u, 0x20ACu, 0x4E2Du, 0x1F600u}) add(c);
    for (uint32_t c : decode(text)) add(c);
    bool tokens = false;
    for (const auto & rule : llama_grammar_get_rules(grammar)) {
        for (const auto & e : rule) {
            switch (e.type) {
                case LLAMA_GRETYPE_CHAR: case LLAMA_GRETYPE_CHAR_NOT: case LLAMA_GRETYPE_CHAR_ALT:
                case LLAMA_GRETYPE_CHAR_RNG_UPPER: add(e.value); break;
                case LLAMA_GRETYPE_TOKEN: case LLAMA_GRETYPE_TOKEN_NOT: tokens = true; break;
                default: break;
            }
        }
    }
    std::cout << "V 1 " << (tokens ? 1 : 0) << " " << hex_cps(alphabet) << "\n";
}

static void check(const std::vector<uint32_t> & cps) {
    auto & stacks = llama_grammar_get_stacks(grammar);
    stacks = initial;
    for (size_t i = 0; i < cps.size(); i++) {
        llama_grammar_accept(grammar, cps[i]);
        if (stacks.empty()) { std::cout << "rejected " << i << "\n"; return; }
    }
    std::cout << (can_end(stacks) ? "complete" : "prefix") << "\n";
}

static void walks(uint32_t seed, int count) {
    std::mt19937 rng(seed);
    auto & stacks = llama_grammar_get_stacks(grammar);
    for (int w = 0; w < count; w++) {
        stacks = initial;
        std::vector<uint32_t> text;
        while (text.size() < 120) {
            if (can_end(stacks) && rng() % 10 < 3) break;
            const llama_grammar_stacks here = stacks;
            std::vector<uint32_t> ok;
            for (uint32_t c : alphabet) {
                stacks = here;
                llama_grammar_accept(grammar, c);
                if (!stacks.empty()) ok.push_back(c);
            }
            stacks = here;
            if (ok.empty()) break;
            uint32_t c = ok[rng() % ok.size()];
            llama_grammar_accept(grammar, c);
            text.push_back(c);
        }
        std::cout << (can_end(stacks) ? "complete" : "prefix") << " " << hex_cps(text) << "\n";
    }
}

int main() {
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) {
        char cmd = line.empty() ? '?' : line[0];
        std::string arg = line.size() > 2 ? line.substr(2) : "";
        if (cmd == 'G') {
            load(unhex(arg));
        } else if (cmd == 'C' && grammar) {
            check(parse_cps(arg));
        } else if (cmd == 'W' && grammar) {
            std::stringstream ss(arg);
            uint32_t seed; int count;
            ss >> seed >> count;
            walks(seed, count);
        } else {
            std::cerr << "gbnf-golden: bad command (or no valid grammar loaded): " << line.substr(0, 40) << "\n";
            return 2;
        }
        std::cout.flush();
    }
    if (grammar) llama_grammar_free_impl(grammar);
    return 0;
}
