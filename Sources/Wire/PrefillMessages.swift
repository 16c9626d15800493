import CProtobufC

// Swift mirrors of the latentserve.v1.Prefill service's messages (Protos/latentserve.proto).

/// Decode → prefill: run this prompt and stream its latent KV back.
public struct PrefillRequest: Equatable, Sendable, WireMessage {
    public var requestId: String
    public var promptTokenIds: [UInt32]
    public var modelFingerprint: String
    public var dtype: WireDType
    /// Payload bytes per KV chunk at most (0: the server's default).
    public var maxChunkBytes: UInt32
    /// Decode's tokens per KV page; chunks start on page boundaries.
    public var pageSize: UInt32
    /// Sampling of the first token.
    public var sampling: SamplingParams
    /// Prompts share prefix-cache pages only under the same salt (vLLM's cache_salt; "" is one too).
    public var cacheSalt: String
    /// The request's priority (vLLM's, lower first; 0 under first-come-first-served): queued prompts
    /// go into batches by it, then by arrival.
    public var priority: Int32

    public init(requestId: String, promptTokenIds: [UInt32], modelFingerprint: String, dtype: WireDType = .f32,
                maxChunkBytes: UInt32 = 0, pageSize: UInt32 = 0, sampling: SamplingParams = SamplingParams(), cacheSalt: String = "",
                priority: Int32 = 0) {
        self.requestId = requestId
        self.promptTokenIds = promptTokenIds
        self.modelFingerprint = modelFingerprint
        self.dtype = dtype
        self.maxChunkBytes = maxChunkBytes
        self.pageSize = pageSize
        self.sampling = sampling
        self.cacheSalt = cacheSalt
        self.priority = priority
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("PrefillRequest", bytes, unpack: latentserve__v1__prefill_request__unpack,
                                 free: latentserve__v1__prefill_request__free_unpacked) { c in
            PrefillRequest(requestId: try checkedString(c.request_id, message: "PrefillRequest", field: "request_id"),
                           promptTokenIds: swiftArray(c.prompt_token_ids, c.n_prompt_token_ids),
                           modelFingerprint: try checkedString(c.model_fingerprint, message: "PrefillRequest", field: "model_fingerprint"),
                           dtype: try WireDType(wire: c.dtype, message: "PrefillRequest"),
                           maxChunkBytes: c.max_chunk_bytes, pageSize: c.page_size,
                           sampling: try c.sampling.map { try SamplingParams($0.pointee, message: "PrefillRequest") } ?? SamplingParams(),
                           cacheSalt: try checkedString(c.cache_salt, message: "PrefillRequest", field: "cache_salt"),
                           priority: c.priority)
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Latentserve__V1__PrefillRequest()
        latentserve__v1__prefill_request__init(&c)
        c.request_id = arena.string(requestId)
        c.n_prompt_token_ids = promptTokenIds.count
        c.prompt_token_ids = arena.array(promptTokenIds)
        c.model_fingerprint = arena.string(modelFingerprint)
        c.dtype = dtype.wire
        c.max_chunk_bytes = maxChunkBytes
        c.page_size = pageSize
        c.cache_salt = arena.string(cacheSalt)
        c.priority = priority
        c.sampling = arena.object(sampling.cStruct(arena))
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}

/// Everything of a KVChunk except its payload: which rows of which layer, how they are encoded.
public struct KVChunkHeader: Equatable, Sendable {
    public var requestId: String
    public var modelFingerprint: String
    public var layer: UInt32
    /// Rows [tokenStart, tokenStart + tokenCount) of the layer's [tokens, rowWidth] latent cache.
    public var tokenStart: UInt32
    public var tokenCount: UInt32
    /// Elements per token row (kv_lora_rank + rope dim).
    public var rowWidth: UInt32
    public var dtype: WireDType
    public var pageSize: UInt32
    /// 0, 1, 2, ... over the whole response stream.
    public var chunkIndex: UInt32
    /// XXH3-64 (seed 0) of the payload bytes.
    public var checksum: UInt64

    public init(requestId: String, modelFingerprint: String, layer: UInt32, tokenStart: UInt32, tokenCount: UInt32,
                rowWidth: UInt32, dtype: WireDType, pageSize: UInt32, chunkIndex: UInt32, checksum: UInt64) {
        self.requestId = requestId
        self.modelFingerprint = modelFingerprint
        self.layer = layer
        self.tokenStart = tokenStart
        self.tokenCount = tokenCount
        self.rowWidth = rowWidth
        self.dtype = dtype
        self.pageSize = pageSize
        self.chunkIndex = chunkIndex
        self.checksum = checksum
    }

    /// Payload size these fields call for: tokenCount · rowWidth · dtype width.
    public var expectedPayloadBytes: Int { Int(tokenCount) * Int(rowWidth) * dtype.byteWidth }

    init(_ c: Latentserve__V1__KVChunk) throws {
        self.init(requestId: try checkedString(c.request_id, message: "KVChunk", field: "request_id"),
                  modelFingerprint: try checkedString(c.model_fingerprint, message: "KVChunk", field: "model_fingerprint"),
                  layer: c.layer, tokenStart: c.token_start, tokenCount: c.token_count, rowWidth: c.row_width,
                  dtype: try WireDType(wire: c.dtype, message: "KVChunk"), pageSize: c.page_size,
                  chunkIndex: c.chunk_index, checksum: c.checksum_xxh3)
    }

    /// The C struct with `payload` referenced, not copied.
    func cStruct(_ arena: CArena, payload: UnsafeRawBufferPointer) -> Latentserve__V1__KVChunk {
        var c = Latentserve__V1__KVChunk()
        latentserve__v1__kvchunk__init(&c)
        c.request_id = arena.string(requestId)
        c.model_fingerprint = arena.string(modelFingerprint)
        c.layer = layer
        c.token_start = tokenStart
        c.token_count = tokenCount
        c.row_width = rowWidth
        c.dtype = dtype.wire
        c.page_size = pageSize
        c.chunk_index = chunkIndex
        c.checksum_xxh3 = checksum
        c.payload = ProtobufCBinaryData(len: payload.count,
                                        data: UnsafeMutablePointer(mutating: payload.baseAddress?.assumingMemoryBound(to: UInt8.self)))
        return c
    }
}

/// One slice of one layer's latent KV with its payload bytes (owned copy; the receive hot path
/// uses PrefillResponseView instead, which reads the payload where it lies).
public struct KVChunk: Equatable, Sendable {
    public var header: KVChunkHeader
    public var payload: [UInt8]

    public init(header: KVChunkHeader, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }
}

/// Prefill's last message: the first token and totals.
public struct PrefillDone: Equatable, Sendable {
    public var firstToken: UInt32
    public var firstTokenLogprob: Float
    public var totalPayloadBytes: UInt64
    public var tokens: UInt32
    public var layers: UInt32
    public var prefillSeconds: Double
    public var pcpRanks: UInt32
    /// KVChunk messages sent before this one.
    public var chunks: UInt32
    /// Time spent sending the KV chunks.
    public var kvSendSeconds: Double
    /// Compute end → last KV chunk sent.
    public var kvExposedSeconds: Double
    /// The request's sampling.top_logprobs most likely first tokens, most likely first.
    public var firstTokenTopLogprobs: [TokenLogprob]
    /// With sampling.prompt_logprobs: prompt tokens 1..<n.
    public var promptLogprobs: [PromptTokenLogprobs]
    /// Leading prompt tokens whose KV came from the prefix cache.
    public var cachedTokens: UInt32

    public init(firstToken: UInt32, firstTokenLogprob: Float, totalPayloadBytes: UInt64, tokens: UInt32, layers: UInt32,
                prefillSeconds: Double, pcpRanks: UInt32, chunks: UInt32, kvSendSeconds: Double = 0, kvExposedSeconds: Double = 0,
                firstTokenTopLogprobs: [TokenLogprob] = [], promptLogprobs: [PromptTokenLogprobs] = [], cachedTokens: UInt32 = 0) {
        self.firstToken = firstToken
        self.firstTokenLogprob = firstTokenLogprob
        self.totalPayloadBytes = totalPayloadBytes
        self.tokens = tokens
        self.layers = layers
        self.prefillSeconds = prefillSeconds
        self.pcpRanks = pcpRanks
        self.chunks = chunks
        self.kvSendSeconds = kvSendSeconds
        self.kvExposedSeconds = kvExposedSeconds
        self.firstTokenTopLogprobs = firstTokenTopLogprobs
        self.promptLogprobs = promptLogprobs
        self.cachedTokens = cachedTokens
    }

    init(_ c: Latentserve__V1__PrefillDone) {
        self.init(firstToken: c.first_token, firstTokenLogprob: c.first_token_logprob,
                  totalPayloadBytes: c.total_payload_bytes, tokens: c.tokens, layers: c.layers,
                  prefillSeconds: c.prefill_seconds, pcpRanks: c.pcp_ranks, chunks: c.chunks,
                  kvSendSeconds: c.kv_send_seconds, kvExposedSeconds: c.kv_exposed_seconds,
                  firstTokenTopLogprobs: TokenLogprob.swiftList(c.first_token_top_logprobs, c.n_first_token_top_logprobs),
                  promptLogprobs: PromptTokenLogprobs.swiftList(c.prompt_logprobs, c.n_prompt_logprobs),
                  cachedTokens: c.cached_tokens)
    }

    /// The C struct, its list kept alive by `arena`.
    func cStruct(_ arena: CArena) -> Latentserve__V1__PrefillDone {
        var c = Latentserve__V1__PrefillDone()
        latentserve__v1__prefill_done__init(&c)
        c.first_token = firstToken
        c.first_token_logprob = firstTokenLogprob
        c.total_payload_bytes = totalPayloadBytes
        c.tokens = tokens
        c.layers = layers
        c.prefill_seconds = prefillSeconds
        c.pcp_ranks = pcpRanks
        c.chunks = chunks
        c.kv_send_seconds = kvSendSeconds
        c.kv_exposed_seconds = kvExposedSeconds
        c.n_first_token_top_logprobs = firstTokenTopLogprobs.count
        c.first_token_top_logprobs = TokenLogprob.cList(firstTokenTopLogprobs, arena)
        c.n_prompt_logprobs = promptLogprobs.count
        c.prompt_logprobs = PromptTokenLogprobs.cList(promptLogprobs, arena)
        c.cached_tokens = cachedTokens
        return c
    }

    /// Decodes a bare PrefillDone message (the oneof's inner bytes).
    init(decodingInner bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("PrefillDone", bytes, unpack: latentserve__v1__prefill_done__unpack,
                                 free: latentserve__v1__prefill_done__free_unpacked) { PrefillDone($0) }
    }
}

/// One message of the Prefill response stream.
public enum PrefillResponse: Equatable, Sendable, WireMessage {
    case chunk(KVChunk)
    case done(PrefillDone)

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("PrefillResponse", bytes, unpack: latentserve__v1__prefill_response__unpack,
                                 free: latentserve__v1__prefill_response__free_unpacked) { c in
            switch c.kind_case {
            case LATENTSERVE__V1__PREFILL_RESPONSE__KIND_CHUNK:
                let chunk = c.chunk.pointee
                let payload = swiftArray(chunk.payload.data, chunk.payload.len)
                return .chunk(KVChunk(header: try KVChunkHeader(chunk), payload: payload))
            case LATENTSERVE__V1__PREFILL_RESPONSE__KIND_DONE:
                return .done(PrefillDone(c.done.pointee))
            default:
                throw WireError.invalidField(message: "PrefillResponse", field: "kind", expected: "chunk or done",
                                             found: "neither")
            }
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        switch self {
        case let .chunk(chunk):
            return try chunk.payload.withUnsafeBytes { payload in
                try PrefillResponse.withChunkEncoder(header: chunk.header, payload: payload, body)
            }
        case let .done(done):
            let arena = CArena()
            var c = Latentserve__V1__PrefillResponse()
            latentserve__v1__prefill_response__init(&c)
            c.kind_case = LATENTSERVE__V1__PREFILL_RESPONSE__KIND_DONE
            c.done = arena.object(done.cStruct(arena))
            return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
        }
    }

    /// Encoder for a chunk response whose payload is read from `payload` during encode (no copy
    /// into a Swift array first): the send hot path.
    public static func withChunkEncoder<R>(header: KVChunkHeader, payload: UnsafeRawBufferPointer,
                                           _ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Latentserve__V1__PrefillResponse()
        latentserve__v1__prefill_response__init(&c)
        c.kind_case = LATENTSERVE__V1__PREFILL_RESPONSE__KIND_CHUNK
        c.chunk = arena.object(header.cStruct(arena, payload: payload))
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}

/// Asks a prefill daemon what it serves.
public struct InfoRequest: Equatable, Sendable, WireMessage {
    public init() {}

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("InfoRequest", bytes, unpack: latentserve__v1__info_request__unpack,
                                 free: latentserve__v1__info_request__free_unpacked) { _ in InfoRequest() }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        var c = Latentserve__V1__InfoRequest()
        latentserve__v1__info_request__init(&c)
        return try withEncoderFor(&c, body)
    }
}

/// The prefill daemon's model and layout.
public struct InfoResponse: Equatable, Sendable, WireMessage {
    public var modelFingerprint: String
    public var modelName: String
    public var layers: UInt32
    /// Latent KV elements per token per layer (kv_lora_rank + rope dim).
    public var rowWidth: UInt32
    /// PCP ranks.
    public var ranks: UInt32

    public init(modelFingerprint: String, modelName: String, layers: UInt32, rowWidth: UInt32, ranks: UInt32) {
        self.modelFingerprint = modelFingerprint
        self.modelName = modelName
        self.layers = layers
        self.rowWidth = rowWidth
        self.ranks = ranks
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("InfoResponse", bytes, unpack: latentserve__v1__info_response__unpack,
                                 free: latentserve__v1__info_response__free_unpacked) { c in
            InfoResponse(modelFingerprint: try checkedString(c.model_fingerprint, message: "InfoResponse", field: "model_fingerprint"),
                         modelName: try checkedString(c.model_name, message: "InfoResponse", field: "model_name", maxBytes: 4096),
                         layers: c.layers, rowWidth: c.row_width, ranks: c.ranks)
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Latentserve__V1__InfoResponse()
        latentserve__v1__info_response__init(&c)
        c.model_fingerprint = arena.string(modelFingerprint)
        c.model_name = arena.string(modelName)
        c.layers = layers
        c.row_width = rowWidth
        c.ranks = ranks
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}
