import Foundation

/// An HF `tokenizer.json` tokenizer (BPE), exact against the Rust `tokenizers` crate for the components
/// it supports; any other component is refused at load with its name (`TokenizerError.unsupported`).
///
/// Supported: model BPE (merges as "a b" or ["a", "b"], byte_fallback, ignore_merges, unk_token,
/// fuse_unk, continuing_subword_prefix, end_of_word_suffix); normalizers Sequence, NFC, NFKC, NFD, NFKD,
/// Lowercase, Prepend, Replace, Strip; pre-tokenizers Sequence, Split (String or Regex pattern; Removed,
/// Isolated, MergedWithPrevious, MergedWithNext, Contiguous; invert), ByteLevel (add_prefix_space,
/// use_regex; trim_offsets only affects offsets), Digits (individual_digits); decoders Sequence,
/// ByteLevel, Replace, Fuse, Strip, ByteFallback; post-processors TemplateProcessing (single sequence),
/// ByteLevel, RobertaProcessing, BertProcessing, Sequence; added tokens with lstrip, rstrip,
/// single_word, normalized, special. Regex patterns run on `OnigRegex` (Oniguruma semantics).
/// A folder without tokenizer.json may hold a tiktoken vocabulary instead (`TikTokenFolder`), run
/// exactly as tiktoken and the folder's TikTokenTokenizer encode it.
///
/// Encoding: added tokens (raw, then normalized) → normalizer → pre-tokenizer → BPE per piece, with a
/// cache of piece → ids. `encode(addSpecialTokens: true)` adds BOS/EOS as transformers does.
public final class Tokenizer: @unchecked Sendable {
    let model: BPEModel
    let added: AddedVocabulary
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let decoder: Decoder?
    let postProcessor: PostProcessor?
    public let config: TokenizerConfig
    let gpt2Regex: OnigRegex
    /// A tiktoken tokenizer's cut of long runs of text before the pattern (`TikTokenFolder.runLimits`).
    let longRuns: TikTokenFolder.RunLimits?

    public let bosTokenID: Int?
    /// End-of-sequence ids: generation_config's eos_token_id(s), then tokenizer_config's eos_token.
    public let eosTokenIDs: [Int]
    public var chatTemplate: String? { config.chatTemplate }

    // Pre-token → ids; pieces of at most `cacheablePieceLength` scalars. One encode call holds the lock
    // throughout; a call that finds it taken encodes without the cache (same ids, no waiting).
    private var cache = PieceCache(limit: 200_000)
    private let cacheLock = NSLock()
    private let cacheablePieceLength = 256

    /// Loads a model folder's tokenizer — tokenizer.json, else a tiktoken vocabulary (`tiktoken.model`
    /// and its `tokenization_*.py`, as Moonshot's Moonlight and Kimi-K2 ship it: `TikTokenFolder`) — and
    /// the side files (tokenizer_config.json, generation_config.json, special_tokens_map.json,
    /// chat_template.jinja).
    public convenience init(folder: URL) throws {
        let path = folder.appendingPathComponent("tokenizer.json").path
        let config = try TokenizerConfig(folder: folder)
        if let data = FileManager.default.contents(atPath: path) {
            try self.init(tokenizerJSON: data, config: config)
        } else if FileManager.default.fileExists(atPath: folder.appendingPathComponent(TikTokenFolder.vocabularyFile).path) {
            try self.init(tiktoken: try TikTokenFolder(folder: folder), config: config)
        } else {
            throw TokenizerError.fileMissing(path: "\(path) (or \(TikTokenFolder.vocabularyFile))")
        }
    }

    /// Whether the folder has a tokenizer `init(folder:)` can try: tokenizer.json or tiktoken.model.
    public static func isPresent(inFolder folder: String) -> Bool {
        [TikTokenFolder.vocabularyFile, "tokenizer.json"].contains {
            FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent($0))
        }
    }

    public convenience init(tokenizerJSON data: Data, config: TokenizerConfig = TokenizerConfig()) throws {
        let json = try JSONValue.parse(Array(data), file: "tokenizer.json")
        func bad(_ d: String) -> TokenizerError { .malformed(file: "tokenizer.json", detail: d) }
        if let t = json["truncation"], !t.isNull {
            throw TokenizerError.unsupported(component: "truncation", detail: "set it to null; callers bound lengths")
        }
        if let p = json["padding"], !p.isNull {
            throw TokenizerError.unsupported(component: "padding", detail: "set it to null; batching pads elsewhere")
        }
        guard let modelJSON = json["model"] else { throw bad("missing model") }
        let model = try BPEModel(modelJSON)
        let normalizer = try Normalizer.load(json["normalizer"] ?? .null)
        var addedTokens: [AddedToken] = []
        for entry in json["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, let content = entry["content"]?.string else { throw bad("added token without id/content") }
            addedTokens.append(AddedToken(
                id: id, content: content, singleWord: entry["single_word"]?.bool ?? false,
                lstrip: entry["lstrip"]?.bool ?? false, rstrip: entry["rstrip"]?.bool ?? false,
                normalized: entry["normalized"]?.bool ?? !(entry["special"]?.bool ?? false),
                special: entry["special"]?.bool ?? false))
        }
        let addedByContent = Self.idsByContent(addedTokens)
        self.init(model: model, addedTokens: addedTokens, normalizer: normalizer,
                      preTokenizer: try PreTokenizer.load(json["pre_tokenizer"] ?? .null),
                      decoder: try Decoder.load(json["decoder"] ?? .null),
                      postProcessor: try PostProcessor.load(json["post_processor"] ?? .null) { addedByContent[TokenKey($0)] },
                      config: config, longRuns: nil)
    }

    /// A tiktoken vocabulary as its TikTokenTokenizer encodes (see `TikTokenFolder`): the control tokens
    /// split out first, then runs cut as that class cuts them, the file's pattern, tiktoken's BPE.
    convenience init(tiktoken files: TikTokenFolder, config: TokenizerConfig) throws {
        self.init(model: try BPEModel(tiktokenTokens: files.tokens), addedTokens: files.controlTokens, normalizer: nil,
                      preTokenizer: .sequence([.split(.regex(try OnigRegex(files.pattern)), .isolated, invert: false),
                                               .byteLevel(addPrefixSpace: false, useRegex: false)]),
                      decoder: .byteLevel, postProcessor: nil, config: config, longRuns: TikTokenFolder.runLimits)
    }

    private init(model: BPEModel, addedTokens: [AddedToken], normalizer: Normalizer?, preTokenizer: PreTokenizer?,
                 decoder: Decoder?, postProcessor: PostProcessor?, config: TokenizerConfig, longRuns: TikTokenFolder.RunLimits?) {
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder
        self.postProcessor = postProcessor
        self.config = config
        self.longRuns = longRuns
        added = AddedVocabulary(tokens: addedTokens, normalizer: normalizer)
        gpt2Regex = PreTokenizer.gpt2Regex

        let addedByContent = Self.idsByContent(addedTokens)
        let lookup: (String) -> Int? = { addedByContent[TokenKey($0)] ?? model.tokenToID[TokenKey($0)] }
        bosTokenID = config.generationBOSTokenID ?? config.bosToken.flatMap(lookup)
        var eos = config.generationEOSTokenIDs
        if let e = config.eosToken.flatMap(lookup), !eos.contains(e) { eos.append(e) }
        eosTokenIDs = eos
    }

    private static func idsByContent(_ tokens: [AddedToken]) -> [TokenKey: Int] {
        Dictionary(tokens.map { (TokenKey($0.content), $0.id) }, uniquingKeysWith: { a, _ in a })
    }

    /// The id of a token string (added tokens first), or nil.
    public func tokenID(for token: String) -> Int? {
        added.tokens.first { $0.content.utf8.elementsEqual(token.utf8) }?.id ?? model.tokenToID[TokenKey(token)]
    }

    /// The token string of an id, or nil.
    public func token(for id: Int) -> String? { added.contentByID[id] ?? model.idToToken[id] }

    public func isSpecial(_ id: Int) -> Bool { added.specialIDs.contains(id) }

    /// The bytes token `id` stands for in decoded text: a byte-level token's own bytes (possibly part of
    /// a UTF-8 character), a byte-fallback token's byte, otherwise the UTF-8 of its decoded text (an
    /// added token's content). OpenAI's logprobs `bytes`: consecutive tokens' bytes join into the text.
    public func bytes(of id: Int) -> [UInt8] {
        if added.contentByID[id] == nil, let token = model.idToToken[id], let decoder {
            if decoder.decodesByteLevel, let raw = ByteLevelAlphabet.decode(token) { return raw }
            if decoder.decodesByteFallback, let byte = Decoder.fallbackByte(token) { return [byte] }
        }
        return Array(decode([id], skipSpecialTokens: false).utf8)
    }

    // MARK: encode

    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        let scratch = BPEModel.Scratch()
        let cached = cacheLock.try()
        defer { if cached { cacheLock.unlock() } }
        for raw in added.split(scalars(text), normalizedSet: false) {
            switch raw {
            case let .token(id): ids.append(id)
            case let .text(s):
                let normalized = normalizer?.normalize(s) ?? s
                for seg in added.split(normalized, normalizedSet: true) {
                    switch seg {
                    case let .token(id): ids.append(id)
                    case let .text(piece):
                        guard let longRuns, piece.count > longRuns.run else {
                            encodePiece(piece, into: &ids, scratch: scratch, cached: cached)
                            continue
                        }
                        for run in longRuns.cut(piece) { encodePiece(Array(run), into: &ids, scratch: scratch, cached: cached) }
                    }
                }
            }
        }
        return addSpecialTokens ? withSpecialTokens(ids) : ids
    }

    /// `cached`: this call holds `cacheLock`.
    private func encodePiece(_ piece: [UInt32], into ids: inout [Int], scratch: BPEModel.Scratch, cached: Bool) {
        let pieces = preTokenizer?.split(PieceList(piece), gpt2: gpt2Regex) ?? PieceList(piece)
        pieces.storage.withUnsafeBufferPointer { storage in
            for r in pieces.ranges where !r.isEmpty {
                let p = UnsafeBufferPointer(rebasing: storage[r])
                var miss: PieceCache.Miss?
                if cached && p.count <= cacheablePieceLength {
                    miss = cache.append(p, to: &ids)
                    if miss == nil { continue }
                }
                let start = ids.count
                model.tokenize(p, into: &ids, scratch: scratch)
                if let miss { cache.insert(p, ids: ids[start...], at: miss) }
            }
        }
    }

    /// BOS/EOS as transformers would add them: tokenizer_config's add_bos_token / add_eos_token when
    /// given (LlamaTokenizerFast rebuilds its template from them), else the file's post-processor.
    private func withSpecialTokens(_ ids: [Int]) -> [Int] {
        if config.addBOSToken != nil || config.addEOSToken != nil {
            var out = ids
            if config.addBOSToken == true, let bos = bosTokenID { out.insert(bos, at: 0) }
            if config.addEOSToken == true, let eos = eosTokenIDs.first { out.append(eos) }
            return out
        }
        return postProcessor?.process(ids) ?? ids
    }

    // MARK: decode

    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens, added.specialIDs.contains(id) { return nil }
            return token(for: id)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }
}
