import Basics
import CProtobufC

// Swift mirrors of the latentserve.v1.Decode service's messages (Protos/latentserve.proto).

/// One token's logit bias (OpenAI's `logit_bias` entry).
public struct LogitBias: Equatable, Sendable {
    public var tokenId: UInt32
    public var bias: Float

    public init(tokenId: UInt32, bias: Float) {
        self.tokenId = tokenId
        self.bias = bias
    }
}

/// A token and its natural-log probability under the raw logits.
public struct TokenLogprob: Equatable, Sendable {
    public var tokenId: UInt32
    public var logprob: Float

    public init(tokenId: UInt32, logprob: Float) {
        self.tokenId = tokenId
        self.logprob = logprob
    }

    init(_ c: Latentserve__V1__TokenLogprob) { self.init(tokenId: c.token_id, logprob: c.logprob) }

    static func swiftList(_ pointers: UnsafeMutablePointer<UnsafeMutablePointer<Latentserve__V1__TokenLogprob>?>?, _ count: Int) -> [TokenLogprob] {
        swiftArray(pointers, count).map { TokenLogprob($0!.pointee) }
    }

    /// The C list, kept alive by `arena`.
    static func cList(_ list: [TokenLogprob], _ arena: CArena) -> UnsafeMutablePointer<UnsafeMutablePointer<Latentserve__V1__TokenLogprob>?>? {
        arena.array(list.map { entry -> UnsafeMutablePointer<Latentserve__V1__TokenLogprob>? in
            var c = Latentserve__V1__TokenLogprob()
            latentserve__v1__token_logprob__init(&c)
            c.token_id = entry.tokenId
            c.logprob = entry.logprob
            return arena.object(c)
        })
    }
}

/// A prompt token's logprob given the tokens before it, its rank there, and the most likely tokens.
public struct PromptTokenLogprobs: Equatable, Sendable {
    public var logprob: Float
    public var rank: UInt32
    public var topLogprobs: [TokenLogprob]

    public init(logprob: Float, rank: UInt32, topLogprobs: [TokenLogprob] = []) {
        self.logprob = logprob
        self.rank = rank
        self.topLogprobs = topLogprobs
    }

    static func swiftList(_ pointers: UnsafeMutablePointer<UnsafeMutablePointer<Latentserve__V1__PromptTokenLogprobs>?>?, _ count: Int) -> [PromptTokenLogprobs] {
        swiftArray(pointers, count).map {
            PromptTokenLogprobs(logprob: $0!.pointee.logprob, rank: $0!.pointee.rank,
                                topLogprobs: TokenLogprob.swiftList($0!.pointee.top_logprobs, $0!.pointee.n_top_logprobs))
        }
    }

    static func cList(_ list: [PromptTokenLogprobs], _ arena: CArena) -> UnsafeMutablePointer<UnsafeMutablePointer<Latentserve__V1__PromptTokenLogprobs>?>? {
        arena.array(list.map { entry -> UnsafeMutablePointer<Latentserve__V1__PromptTokenLogprobs>? in
            var c = Latentserve__V1__PromptTokenLogprobs()
            latentserve__v1__prompt_token_logprobs__init(&c)
            c.logprob = entry.logprob
            c.rank = entry.rank
            c.n_top_logprobs = entry.topLogprobs.count
            c.top_logprobs = TokenLogprob.cList(entry.topLogprobs, arena)
            return arena.object(c)
        })
    }
}

/// Sampling: temperature 0 is greedy; topK 0, topP 0 (or 1) and minP 0 mean "off"; repetitionPenalty 0
/// (or 1) means "off".
public struct SamplingParams: Equatable, Sendable {
    public var temperature: Float
    public var topK: UInt32
    public var topP: Float
    public var minP: Float
    public var seed: UInt64
    public var stopTokenIds: [UInt32]
    public var ignoreEos: Bool
    public var presencePenalty: Float
    public var frequencyPenalty: Float
    public var repetitionPenalty: Float
    public var minTokens: UInt32
    public var logitBias: [LogitBias]
    public var topLogprobs: UInt32
    public var promptLogprobs: Bool
    public var promptTopLogprobs: UInt32
    /// `seed` is the request's even when 0 (without it, seed 0 means "pick one").
    public var seedGiven: Bool
    /// Only these tokens can be sampled (vLLM's allowed_token_ids); empty = every token.
    public var allowedTokenIds: [UInt32]
    /// vLLM's bad words as token sequences: each one's last token cannot follow the rest.
    public var badWords: [[UInt32]]
    /// A choice constraint (structured output): only token paths through it, then EOS at an accepting node.
    public var choice: TokenAutomaton?
    /// Structured output as one JSON object: only tokens keeping the text a JSON object, then EOS.
    public var jsonObject: Bool
    /// The structured output starts after one of these tokens is generated (a reasoning block's end);
    /// empty: from the first token.
    public var structuredAfter: [UInt32]
    /// Structured output as one value of this JSON Schema (JSON text, at most `maxJSONSchemaBytes`); empty: none.
    public var jsonSchema: String

    /// Structured output as one whole match of this regular expression (Python `re` syntax, at most
    /// `maxRegexBytes`); empty: none.
    public var regex: String
    /// Structured output as one whole match of this GBNF grammar (llama.cpp's format, at most
    /// `maxGrammarBytes`); empty: none.
    public var grammar: String
    /// With jsonObject / jsonSchema: the JSON is written without whitespace between tokens.
    public var disableAnyWhitespace: Bool

    /// Largest JSON Schema a request may carry.
    public static let maxJSONSchemaBytes = 1 << 16
    /// Largest regular expression a request may carry.
    public static let maxRegexBytes = 1 << 14
    /// Largest GBNF grammar a request may carry.
    public static let maxGrammarBytes = 1 << 16

    public init(temperature: Float = 0, topK: UInt32 = 0, topP: Float = 0, minP: Float = 0, seed: UInt64 = 0, stopTokenIds: [UInt32] = [],
                ignoreEos: Bool = false, presencePenalty: Float = 0, frequencyPenalty: Float = 0, repetitionPenalty: Float = 0,
                minTokens: UInt32 = 0, logitBias: [LogitBias] = [], topLogprobs: UInt32 = 0, promptLogprobs: Bool = false,
                promptTopLogprobs: UInt32 = 0, seedGiven: Bool = false, allowedTokenIds: [UInt32] = [], badWords: [[UInt32]] = [],
                choice: TokenAutomaton? = nil, jsonObject: Bool = false, structuredAfter: [UInt32] = [], jsonSchema: String = "",
                regex: String = "", grammar: String = "", disableAnyWhitespace: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
        self.stopTokenIds = stopTokenIds
        self.ignoreEos = ignoreEos
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.minTokens = minTokens
        self.logitBias = logitBias
        self.topLogprobs = topLogprobs
        self.promptLogprobs = promptLogprobs
        self.promptTopLogprobs = promptTopLogprobs
        self.seedGiven = seedGiven
        self.allowedTokenIds = allowedTokenIds
        self.badWords = badWords
        self.choice = choice
        self.jsonObject = jsonObject
        self.structuredAfter = structuredAfter
        self.jsonSchema = jsonSchema
        self.regex = regex
        self.grammar = grammar
        self.disableAnyWhitespace = disableAnyWhitespace
    }

    init(_ c: Latentserve__V1__SamplingParams, message: String) throws {
        self.init(temperature: c.temperature, topK: c.top_k, topP: c.top_p, minP: c.min_p, seed: c.seed,
                  stopTokenIds: swiftArray(c.stop_token_ids, c.n_stop_token_ids), ignoreEos: c.ignore_eos != 0,
                  presencePenalty: c.presence_penalty, frequencyPenalty: c.frequency_penalty,
                  repetitionPenalty: c.repetition_penalty, minTokens: c.min_tokens,
                  logitBias: swiftArray(c.logit_bias, c.n_logit_bias).map { LogitBias(tokenId: $0!.pointee.token_id, bias: $0!.pointee.bias) },
                  topLogprobs: c.top_logprobs, promptLogprobs: c.prompt_logprobs != 0, promptTopLogprobs: c.prompt_top_logprobs,
                  seedGiven: c.seed_given != 0, allowedTokenIds: swiftArray(c.allowed_token_ids, c.n_allowed_token_ids),
                  badWords: swiftArray(c.bad_words, c.n_bad_words).map { swiftArray($0!.pointee.token_ids, $0!.pointee.n_token_ids) },
                  choice: c.choice.map { a in
                      func ints(_ p: UnsafeMutablePointer<UInt32>?, _ n: Int) -> [Int] { swiftArray(p, n).map { Int($0) } }
                      return TokenAutomaton(from: ints(a.pointee.from, a.pointee.n_from), token: ints(a.pointee.token, a.pointee.n_token),
                                            to: ints(a.pointee.to, a.pointee.n_to), accepting: ints(a.pointee.accepting, a.pointee.n_accepting))
                  },
                  jsonObject: c.json_object != 0, structuredAfter: swiftArray(c.structured_after, c.n_structured_after),
                  jsonSchema: try checkedString(c.json_schema, message: message, field: "sampling.json_schema", maxBytes: Self.maxJSONSchemaBytes),
                  regex: try checkedString(c.regex, message: message, field: "sampling.regex", maxBytes: Self.maxRegexBytes),
                  grammar: try checkedString(c.grammar, message: message, field: "sampling.grammar", maxBytes: Self.maxGrammarBytes),
                  disableAnyWhitespace: c.disable_any_whitespace != 0)
    }

    /// The C struct, its arrays kept alive by `arena`.
    func cStruct(_ arena: CArena) -> Latentserve__V1__SamplingParams {
        var c = Latentserve__V1__SamplingParams()
        latentserve__v1__sampling_params__init(&c)
        c.temperature = temperature
        c.top_k = topK
        c.top_p = topP
        c.min_p = minP
        c.seed = seed
        c.n_stop_token_ids = stopTokenIds.count
        c.stop_token_ids = arena.array(stopTokenIds)
        c.ignore_eos = ignoreEos ? 1 : 0
        c.presence_penalty = presencePenalty
        c.frequency_penalty = frequencyPenalty
        c.repetition_penalty = repetitionPenalty
        c.min_tokens = minTokens
        c.n_logit_bias = logitBias.count
        c.logit_bias = arena.array(logitBias.map { entry -> UnsafeMutablePointer<Latentserve__V1__LogitBias>? in
            var b = Latentserve__V1__LogitBias()
            latentserve__v1__logit_bias__init(&b)
            b.token_id = entry.tokenId
            b.bias = entry.bias
            return arena.object(b)
        })
        c.n_allowed_token_ids = allowedTokenIds.count
        c.allowed_token_ids = arena.array(allowedTokenIds)
        c.n_bad_words = badWords.count
        c.bad_words = arena.array(badWords.map { ids -> UnsafeMutablePointer<Latentserve__V1__TokenIds>? in
            var t = Latentserve__V1__TokenIds()
            latentserve__v1__token_ids__init(&t)
            t.n_token_ids = ids.count
            t.token_ids = arena.array(ids)
            return arena.object(t)
        })
        if let choice {
            var a = Latentserve__V1__TokenAutomaton()
            latentserve__v1__token_automaton__init(&a)
            func uints(_ v: [Int]) -> UnsafeMutablePointer<UInt32>? { arena.array(v.map { UInt32(clamping: $0) }) }
            (a.n_from, a.from) = (choice.from.count, uints(choice.from))
            (a.n_token, a.token) = (choice.token.count, uints(choice.token))
            (a.n_to, a.to) = (choice.to.count, uints(choice.to))
            (a.n_accepting, a.accepting) = (choice.accepting.count, uints(choice.accepting))
            c.choice = arena.object(a)
        }
        c.top_logprobs = topLogprobs
        c.prompt_logprobs = promptLogprobs ? 1 : 0
        c.prompt_top_logprobs = promptTopLogprobs
        c.seed_given = seedGiven ? 1 : 0
        c.json_object = jsonObject ? 1 : 0
        c.n_structured_after = structuredAfter.count
        c.structured_after = arena.array(structuredAfter)
        if !jsonSchema.isEmpty { c.json_schema = arena.string(jsonSchema) }
        if !regex.isEmpty { c.regex = arena.string(regex) }
        if !grammar.isEmpty { c.grammar = arena.string(grammar) }
        c.disable_any_whitespace = disableAnyWhitespace ? 1 : 0
        return c
    }
}

/// Client → decode: a prompt to continue.
public struct GenerateRequest: Equatable, Sendable, WireMessage {
    public var promptTokenIds: [UInt32]
    public var maxNewTokens: UInt32
    public var sampling: SamplingParams
    /// Optional; echoed as the response's request id when not empty.
    public var clientRequestId: String
    /// vLLM's cache_salt: the prompt reuses prefix-cache pages only of prompts with the same salt.
    public var cacheSalt: String
    /// vLLM's priority: with `--scheduling-policy priority` lower values get pages first and are preempted
    /// last; 0 by default.
    public var priority: Int32

    public init(promptTokenIds: [UInt32], maxNewTokens: UInt32, sampling: SamplingParams = SamplingParams(),
                clientRequestId: String = "", cacheSalt: String = "", priority: Int32 = 0) {
        self.promptTokenIds = promptTokenIds
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.clientRequestId = clientRequestId
        self.cacheSalt = cacheSalt
        self.priority = priority
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("GenerateRequest", bytes, unpack: latentserve__v1__generate_request__unpack,
                                 free: latentserve__v1__generate_request__free_unpacked) { c in
            GenerateRequest(promptTokenIds: swiftArray(c.prompt_token_ids, c.n_prompt_token_ids),
                            maxNewTokens: c.max_new_tokens,
                            sampling: try c.sampling.map { try SamplingParams($0.pointee, message: "GenerateRequest") } ?? SamplingParams(),
                            clientRequestId: try checkedString(c.client_request_id, message: "GenerateRequest", field: "client_request_id"),
                            cacheSalt: try checkedString(c.cache_salt, message: "GenerateRequest", field: "cache_salt"),
                            priority: c.priority)
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Latentserve__V1__GenerateRequest()
        latentserve__v1__generate_request__init(&c)
        c.n_prompt_token_ids = promptTokenIds.count
        c.prompt_token_ids = arena.array(promptTokenIds)
        c.max_new_tokens = maxNewTokens
        c.sampling = arena.object(sampling.cStruct(arena))
        c.client_request_id = arena.string(clientRequestId)
        c.cache_salt = arena.string(cacheSalt)
        c.priority = priority
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}

/// One generated token, the natural log of its probability under the raw logits, and the most
/// likely tokens there when the request asked for them (most likely first).
public struct GeneratedToken: Equatable, Sendable {
    public var tokenId: UInt32
    public var logprob: Float
    public var topLogprobs: [TokenLogprob]

    public init(tokenId: UInt32, logprob: Float, topLogprobs: [TokenLogprob] = []) {
        self.tokenId = tokenId
        self.logprob = logprob
        self.topLogprobs = topLogprobs
    }
}

/// Counts and timings of one finished request.
public struct Usage: Equatable, Sendable {
    public var promptTokens: UInt32
    public var generatedTokens: UInt32
    public var ttftSeconds: Double
    public var kvBytes: UInt64
    public var kvTransferSeconds: Double
    public var totalSeconds: Double
    public var kvExposedSeconds: Double
    /// Prompt tokens the prefill took from its prefix cache.
    public var cachedPromptTokens: UInt32

    public init(promptTokens: UInt32 = 0, generatedTokens: UInt32 = 0, ttftSeconds: Double = 0, kvBytes: UInt64 = 0,
                kvTransferSeconds: Double = 0, totalSeconds: Double = 0, kvExposedSeconds: Double = 0, cachedPromptTokens: UInt32 = 0) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.ttftSeconds = ttftSeconds
        self.kvBytes = kvBytes
        self.kvTransferSeconds = kvTransferSeconds
        self.totalSeconds = totalSeconds
        self.kvExposedSeconds = kvExposedSeconds
        self.cachedPromptTokens = cachedPromptTokens
    }

    init(_ c: Latentserve__V1__Usage) {
        self.init(promptTokens: c.prompt_tokens, generatedTokens: c.generated_tokens, ttftSeconds: c.ttft_seconds,
                  kvBytes: c.kv_bytes, kvTransferSeconds: c.kv_transfer_seconds, totalSeconds: c.total_seconds,
                  kvExposedSeconds: c.kv_exposed_seconds, cachedPromptTokens: c.cached_prompt_tokens)
    }

    var cStruct: Latentserve__V1__Usage {
        var c = Latentserve__V1__Usage()
        latentserve__v1__usage__init(&c)
        c.prompt_tokens = promptTokens
        c.generated_tokens = generatedTokens
        c.ttft_seconds = ttftSeconds
        c.kv_bytes = kvBytes
        c.kv_transfer_seconds = kvTransferSeconds
        c.total_seconds = totalSeconds
        c.kv_exposed_seconds = kvExposedSeconds
        c.cached_prompt_tokens = cachedPromptTokens
        return c
    }
}

/// Decode → client: newly generated tokens; the last response has finishReason and usage set.
public struct GenerateResponse: Equatable, Sendable, WireMessage {
    public var requestId: String
    public var tokens: [GeneratedToken]
    public var finishReason: FinishReason
    /// With `.stop`: the request's stop token id that ended it (vLLM's stop_reason); nil for the model's EOS.
    public var stopTokenId: UInt32?
    public var usage: Usage?
    /// With sampling.prompt_logprobs, on the first response: prompt tokens 1..<n.
    public var promptLogprobs: [PromptTokenLogprobs]

    public init(requestId: String, tokens: [GeneratedToken] = [], finishReason: FinishReason = .unspecified,
                stopTokenId: UInt32? = nil, usage: Usage? = nil, promptLogprobs: [PromptTokenLogprobs] = []) {
        self.requestId = requestId
        self.tokens = tokens
        self.finishReason = finishReason
        self.stopTokenId = stopTokenId
        self.usage = usage
        self.promptLogprobs = promptLogprobs
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("GenerateResponse", bytes, unpack: latentserve__v1__generate_response__unpack,
                                 free: latentserve__v1__generate_response__free_unpacked) { c in
            let tokens = swiftArray(c.tokens, c.n_tokens).map {
                GeneratedToken(tokenId: $0!.pointee.token_id, logprob: $0!.pointee.logprob,
                               topLogprobs: TokenLogprob.swiftList($0!.pointee.top_logprobs, $0!.pointee.n_top_logprobs))
            }
            let finish = try FinishReason(wire: c.finish_reason, message: "GenerateResponse")
            return GenerateResponse(requestId: try checkedString(c.request_id, message: "GenerateResponse", field: "request_id"), tokens: tokens,
                                    finishReason: finish,
                                    stopTokenId: try FinishReason.stopTokenID(set: c.stop_case == LATENTSERVE__V1__GENERATE_RESPONSE__STOP_STOP_TOKEN_ID,
                                                                              value: c.stop_token_id, finish: finish, message: "GenerateResponse"),
                                    usage: c.usage.map { Usage($0.pointee) },
                                    promptLogprobs: PromptTokenLogprobs.swiftList(c.prompt_logprobs, c.n_prompt_logprobs))
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Latentserve__V1__GenerateResponse()
        latentserve__v1__generate_response__init(&c)
        c.request_id = arena.string(requestId)
        let tokenPointers: [UnsafeMutablePointer<Latentserve__V1__GeneratedToken>?] = tokens.map { token in
            var t = Latentserve__V1__GeneratedToken()
            latentserve__v1__generated_token__init(&t)
            t.token_id = token.tokenId
            t.logprob = token.logprob
            t.n_top_logprobs = token.topLogprobs.count
            t.top_logprobs = TokenLogprob.cList(token.topLogprobs, arena)
            return arena.object(t)
        }
        c.n_tokens = tokens.count
        c.tokens = arena.array(tokenPointers)
        c.finish_reason = finishReason.wire
        if let stopTokenId {
            c.stop_case = LATENTSERVE__V1__GENERATE_RESPONSE__STOP_STOP_TOKEN_ID
            c.stop_token_id = stopTokenId
        }
        c.usage = usage.map { arena.object($0.cStruct) }
        c.n_prompt_logprobs = promptLogprobs.count
        c.prompt_logprobs = PromptTokenLogprobs.cList(promptLogprobs, arena)
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}

/// Client → decode: asks for the daemon's counters.
public struct StatsRequest: Equatable, Sendable, WireMessage {
    public init() {}

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("StatsRequest", bytes, unpack: latentserve__v1__stats_request__unpack,
                                 free: latentserve__v1__stats_request__free_unpacked) { _ in StatsRequest() }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        var c = Latentserve__V1__StatsRequest()
        latentserve__v1__stats_request__init(&c)
        return try withEncoderFor(&c, body)
    }
}

/// KV bytes and transfer time of one recent request.
public struct RequestStats: Equatable, Sendable {
    public var requestId: String
    public var promptTokens: UInt32
    public var generatedTokens: UInt32
    public var kvBytes: UInt64
    public var kvTransferSeconds: Double
    public var finishReason: FinishReason
    /// As in GenerateResponse.
    public var stopTokenId: UInt32?

    public init(requestId: String, promptTokens: UInt32 = 0, generatedTokens: UInt32 = 0, kvBytes: UInt64 = 0,
                kvTransferSeconds: Double = 0, finishReason: FinishReason = .unspecified, stopTokenId: UInt32? = nil) {
        self.requestId = requestId
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.kvBytes = kvBytes
        self.kvTransferSeconds = kvTransferSeconds
        self.finishReason = finishReason
        self.stopTokenId = stopTokenId
    }
}

/// Decode → client: active requests, KV page occupancy and recent per-request figures.
public struct StatsResponse: Equatable, Sendable, WireMessage {
    public var activeRequests: UInt32
    public var freeKVPages: UInt64
    public var totalKVPages: UInt64
    /// Tokens per KV page.
    public var pageSize: UInt32
    /// Newest first.
    public var recent: [RequestStats]

    public init(activeRequests: UInt32, freeKVPages: UInt64, totalKVPages: UInt64, pageSize: UInt32,
                recent: [RequestStats] = []) {
        self.activeRequests = activeRequests
        self.freeKVPages = freeKVPages
        self.totalKVPages = totalKVPages
        self.pageSize = pageSize
        self.recent = recent
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("StatsResponse", bytes, unpack: latentserve__v1__stats_response__unpack,
                                 free: latentserve__v1__stats_response__free_unpacked) { c in
            let recent = try swiftArray(c.recent, c.n_recent).map { pointer -> RequestStats in
                let r = pointer!.pointee
                let finish = try FinishReason(wire: r.finish_reason, message: "RequestStats")
                return RequestStats(requestId: try checkedString(r.request_id, message: "RequestStats", field: "request_id"), promptTokens: r.prompt_tokens,
                                    generatedTokens: r.generated_tokens, kvBytes: r.kv_bytes,
                                    kvTransferSeconds: r.kv_transfer_seconds, finishReason: finish,
                                    stopTokenId: try FinishReason.stopTokenID(set: r.stop_case == LATENTSERVE__V1__REQUEST_STATS__STOP_STOP_TOKEN_ID,
                                                                              value: r.stop_token_id, finish: finish, message: "RequestStats"))
            }
            return StatsResponse(activeRequests: c.active_requests, freeKVPages: c.free_kv_pages,
                                 totalKVPages: c.total_kv_pages, pageSize: c.page_size, recent: recent)
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Latentserve__V1__StatsResponse()
        latentserve__v1__stats_response__init(&c)
        c.active_requests = activeRequests
        c.free_kv_pages = freeKVPages
        c.total_kv_pages = totalKVPages
        c.page_size = pageSize
        let recentPointers: [UnsafeMutablePointer<Latentserve__V1__RequestStats>?] = recent.map { stats in
            var r = Latentserve__V1__RequestStats()
            latentserve__v1__request_stats__init(&r)
            r.request_id = arena.string(stats.requestId)
            r.prompt_tokens = stats.promptTokens
            r.generated_tokens = stats.generatedTokens
            r.kv_bytes = stats.kvBytes
            r.kv_transfer_seconds = stats.kvTransferSeconds
            r.finish_reason = stats.finishReason.wire
            if let id = stats.stopTokenId {
                r.stop_case = LATENTSERVE__V1__REQUEST_STATS__STOP_STOP_TOKEN_ID
                r.stop_token_id = id
            }
            return arena.object(r)
        }
        c.n_recent = recent.count
        c.recent = arena.array(recentPointers)
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}
