// allocation-check GOLDEN_DIR MODEL_DIR: the guide's "no per-token allocation in decode", checked on the
// release build (a debug build allocates where the optimizer does not: generic iteration, boxed
// closures). CAllocationCounter interposes malloc & co. in this executable only; allocations the
// BLAS libraries make inside a call (oneDNN's packing buffers, OpenBLAS's threaded job table) are
// counted apart and reported, not held against us. One line per check; exit 1 on any failure.
// Run by Tests/Integration/decode-allocations.sh (the built-in tiny model is written under MODEL_DIR).
import CAllocationCounter
import DeepSeekModel
import Engine
import Foundation
import Kernels
import KVCache
import StructuredOutput

var failures = 0
func check(_ ok: Bool, _ line: String) {
    print("\(ok ? "ok" : "FAIL"): \(line)")
    if !ok { failures += 1 }
}

/// Allocates one object per worker, kept (so it cannot live on the stack): the positive control.
final class AllocatingJob: ParallelJob {
    final class Made { let worker: Int; init(_ worker: Int) { self.worker = worker } }
    let made = UnsafeMutablePointer<Made?>.allocate(capacity: 2)
    init() { made.initialize(repeating: nil, count: 2) }
    func work(worker: Int, workers: Int) { made[worker] = Made(worker) }
}

/// Allocations during `body`, after `warm` uncounted runs of it.
func allocations(warm: Int = 2, _ body: () throws -> Void) rethrows -> ck_allocation_counts {
    for _ in 0..<warm { try body() }
    ck_allocation_counting_start()
    try body()
    return ck_allocation_counting_stop()
}

guard CommandLine.arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: allocation-check GOLDEN_DIR MODEL_DIR\n".utf8)); exit(2)
}
let goldenRoot = CommandLine.arguments[1], modelRoot = CommandLine.arguments[2]
guard ck_allocation_counting_available() == 1 else { print("FAIL: no allocation counter on this libc"); exit(1) }
try CPUFeatures.requireBaseline()
BLAS.setThreads(2)

// The counter sees an allocation on the calling thread and on a helper thread.
let control = AllocatingJob()
let seen = allocations { Parallel.run(workers: 2, control) }
check(seen.ours == 2 && control.made[1]?.worker == 1, "the counter sees one allocation per worker (\(seen.ours))")

// Kernels beyond the skinny rows: sgemm split over two workers on each backend; stored dtypes
// converted one panel at a time.
let k = 1024, n = 1024, m = BLAS.skinnyRowLimit + 8
let x = Scratch(capacity: m * k), y = Scratch(capacity: m * n), w = Scratch(capacity: n * k)
x.pointer.update(repeating: 0.5, count: m * k)
w.pointer.update(repeating: 0.25, count: n * k)
for backend in GEMMBackend.allCases {
    let counts = allocations {
        BLAS.gemm(transB: true, m: m, n: n, k: k, a: x.pointer, lda: k, b: w.pointer, ldb: k, c: y.pointer, ldc: n, backend: backend)
    }
    check(counts.ours == 0, "BLAS.gemm \(m)×\(n)×\(k) on \(backend.name): \(counts.ours) allocations (the library's own: \(counts.blas))")
}
let bf16 = UnsafeMutablePointer<UInt16>.allocate(capacity: n * k)
bf16.update(repeating: 0x3E80, count: n * k)                                // 0.25
for (name, weight) in [("f32", WeightMatrix(f32: w.pointer, rows: n, cols: k)),
                       ("bf16", WeightMatrix(storage: .bf16, base: UnsafeRawPointer(bf16), rows: n, cols: k))] {
    let counts = allocations { BLAS.linear(x.pointer, rows: m, weight: weight, into: y.pointer) }
    check(counts.ours == 0, "BLAS.linear of \(m) rows, \(name) weight, on \(GEMMBackend.active.name): \(counts.ours) allocations (the library's own: \(counts.blas))")
}

// Warm decode steps of whole models, dense and MoE, in each stored dtype, on the skinny kernels
// (1, 8 sequences; 20: row blocks over groups of weight rows) and beyond them (40: sgemm with weight panels).
let models: [(String, String)] = [
    ("tiny f32", try BuiltinModel.tiny.materialize(cacheRoot: modelRoot)),
    ("v2_bf16 (MoE)", goldenRoot + "/v2_bf16"), ("v3_f16", goldenRoot + "/v3_f16"), ("v3_fp8", goldenRoot + "/v3_fp8"),
]
for (name, directory) in models {
    let model = try DeepSeekTransformer(directory: directory)
    let c = model.config
    for batch in [1, 8, 20, BLAS.skinnyRowLimit + 8] {
        let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: batch * 2)
        let sequences = try (0..<batch).map { _ in try cache.allocate(capacity: 8) }
        let tokens = (0..<batch).map { Int32((7 * $0 + 3) % c.vocabSize) }
        let logits = Scratch(capacity: batch * c.vocabSize)
        let counts = try tokens.withUnsafeBufferPointer { t in
            try sequences.withUnsafeBufferPointer { s in
                try allocations(warm: 3) { try model.decode(tokens: t, sequences: s, cache: cache, logits: logits.pointer) }
            }
        }
        check(counts.ours == 0, "\(name) decode step, batch \(batch): \(counts.ours) allocations (the library's own: \(counts.blas))")
    }
    // Speculative decoding's step: two sequences, each its token and four drafts as rows at their positions.
    let cache = try PagedLatentCache(layers: c.numHiddenLayers, rowWidth: c.latentRowWidth, pageSize: 4, pageCount: 4)
    let pair = try (0..<2).map { _ in try cache.allocate(capacity: 8) }
    let rowSequences = pair.flatMap { [Int](repeating: $0, count: 5) }
    let rowPositions = (0..<10).map { Int32($0 % 5) }, rowTokens = (0..<10).map { Int32((5 * $0 + 1) % c.vocabSize) }
    let rowLogits = Scratch(capacity: 10 * c.vocabSize)
    let counts = try rowTokens.withUnsafeBufferPointer { t in
        try rowSequences.withUnsafeBufferPointer { s in
            try rowPositions.withUnsafeBufferPointer { p in
                try allocations(warm: 3) {
                    for q in pair { try cache.setLength(0, of: q) }
                    try model.decode(tokens: t, sequences: s, positions: p, cache: cache, logits: rowLogits.pointer)
                }
            }
        }
    }
    check(counts.ours == 0, "\(name) decode step, 2 sequences × (1 + 4 drafts) rows: \(counts.ours) allocations (the library's own: \(counts.blas))")
}
// The draft lookup over a 16,384-token history.
let history = (0..<16_384).map { Int32($0 % 97) }, drafts = UnsafeMutablePointer<Int32>.allocate(capacity: 8)
let lookups = history.withUnsafeBufferPointer { h in
    allocations { _ = NgramLookup.propose(h, minNgram: 1, maxNgram: 4, limit: 8, into: drafts) }
}
check(lookups.ours == 0, "NgramLookup.propose over 16,384 tokens: \(lookups.ours) allocations")
// The sampler's per-token work on a 102,400-token vocabulary: greedy and top-k / top-p draws, and with
// every logits processor (min_tokens, logit_bias, the three penalties over a 512-token prompt and
// the tokens drawn so far) on its preallocated copy of the logits.
let vocab = 102_400
let stepLogits = (0..<vocab).map { Float(($0 * 7919) % 1000) / 100 - 5 }
let prompt = (0..<512).map { ($0 * 104_729) % vocab }
let processors = SamplingParams(temperature: 0.8, topK: 50, topP: 0.9, seed: 3, stopTokenIDs: [7], maxNewTokens: 64,
                                presencePenalty: 0.5, frequencyPenalty: 0.3, repetitionPenalty: 1.2, minTokens: 8,
                                logitBias: [TokenBias(token: 11, bias: 2), TokenBias(token: 12, bias: -100)])
for (name, params) in [("greedy", SamplingParams(maxNewTokens: 64)), ("top-k / top-p", SamplingParams(temperature: 0.8, topK: 50, topP: 0.9, seed: 3, maxNewTokens: 64)),
                       ("every logits processor", processors)] {
    let sampler = Sampler(params: params, vocabSize: vocab, prompt: prompt, eosTokenIDs: [1])
    let counts = stepLogits.withUnsafeBufferPointer { logits in allocations(warm: 3) { _ = sampler.sample(logits: logits) } }
    check(counts.ours == 0, "Sampler.sample, \(name), vocab \(vocab): \(counts.ours) allocations")
}
// A structured output's mask and step (json_object, a JSON Schema, a regex, a GBNF grammar) over a vocabulary of that size: every
// byte a token, the rest pieces of JSON text (quotes, keys, digits, punctuation).
let pieces: [[UInt8]] = (0..<vocab).map { id in
    if id < 256 { return [UInt8(id)] }
    let text = String(id, radix: 36)
    return Array([text, "\"" + text, text + "\":", ",\"" + text, "\(id % 1000)", " " + text + "}"][id % 6].utf8)
}
let vocabulary = TokenVocabulary(vocabSize: vocab, tokens: pieces.enumerated().map { ($0.offset, $0.element) })
let schema = try JSONSchema(json: Array(#"{"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "integer"}}, "required": ["a", "n"]}"#.utf8))
for (name, params, grammar) in [("json_object", SamplingParams(temperature: 0.8, seed: 3, maxNewTokens: 64, jsonObject: true), StructuredGrammar.jsonObject(vocabulary)),
                                ("json_schema", SamplingParams(temperature: 0.8, seed: 3, maxNewTokens: 64, jsonSchema: #"{"type": "object"}"#), .jsonSchema(schema, vocabulary)),
                                ("regex", SamplingParams(temperature: 0.8, seed: 3, maxNewTokens: 64, regex: "x"),
                                 .regex(try RegexAutomaton(pattern: #"(\{"[a-z0-9]+": \d+(, )?\}|[a-z0-9 ",:]){1,60}"#), vocabulary)),
                                // A GBNF grammar's steps are remembered per sequence: once its states are seen, none allocates.
                                ("grammar", SamplingParams(temperature: 0.8, seed: 3, maxNewTokens: 64, grammar: "x"),
                                 .grammar(try GBNFGrammar(#"root ::= ("{\"" [a-z0-9]+ "\": " [0-9]+ ", "? "}" | [a-z0-9 ",:] | "[" root "]")+"#), vocabulary))] {
    // Twenty steps measured: the text moves through keys, strings, numbers and punctuation.
    let sampler = Sampler(params: params, vocabSize: vocab, prompt: prompt, eosTokenIDs: [1], grammar: grammar)
    let counts = stepLogits.withUnsafeBufferPointer { logits in
        allocations(warm: 3) { for _ in 0..<20 { _ = sampler.sample(logits: logits) } }
    }
    check(counts.ours == 0, "Sampler.sample, \(name), vocab \(vocab), 20 steps: \(counts.ours) allocations")
}

print(failures == 0 ? "allocation-check: all passed" : "allocation-check: \(failures) failed")
exit(failures == 0 ? 0 : 1)
