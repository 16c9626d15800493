import Foundation

/// A model folder whose tokenizer is a tiktoken vocabulary rather than tokenizer.json: Moonshot's
/// Moonlight-16B-A3B and Kimi-K2 ship `tiktoken.model` (one `base64(token bytes) rank` line per token,
/// the rank being the id) with a `tokenization_*.py` whose `TikTokenTokenizer` (transformers remote
/// code) defines the rest. Read here as that class builds it:
/// - the pre-tokenizer pattern is the file's `pat_str = "|".join([r"""...""", ...])`;
/// - the ids from the number of ranks on are `num_reserved_special_tokens` + 2 control tokens, each
///   named by tokenizer_config.json's `added_tokens_decoder` or else `<|reserved_token_ID|>`, all of
///   them matched in text (tiktoken's `allowed_special="all"`);
/// - text runs are cut as its `encode` cuts them before tiktoken (`RunLimits`).
struct TikTokenFolder {
    static let vocabularyFile = "tiktoken.model"

    /// [rank]: the token's bytes.
    let tokens: [[UInt8]]
    /// The TikTokenTokenizer's `pat_str`.
    let pattern: String
    /// The control tokens above the ranks, as added tokens (special, unless tokenizer_config.json says
    /// otherwise of a named one).
    let controlTokens: [AddedToken]

    init(folder: URL) throws {
        let vocabulary = folder.appendingPathComponent(Self.vocabularyFile)
        guard let data = FileManager.default.contents(atPath: vocabulary.path) else {
            throw TokenizerError.fileMissing(path: vocabulary.path)
        }
        let config = try TokenizerConfig.readJSON(folder.appendingPathComponent("tokenizer_config.json")) ?? .object([])
        let source = try Self.tokenizerSource(folder: folder, config: config)
        try self.init(vocabulary: Array(data), module: source, config: config)
    }

    /// The files' contents: tiktoken.model, the tokenizer's Python module (its name for errors),
    /// tokenizer_config.json.
    init(vocabulary: [UInt8], module: (name: String, text: String), config: JSONValue) throws {
        tokens = try Self.ranks(vocabulary)
        pattern = try Self.pattern(module.text, file: module.name)
        let reserved = try Self.reservedCount(module.text, file: module.name)
        // + 2: Kimi-K2's class names `range(n, n + num_reserved_special_tokens + 2)`.
        controlTokens = try Self.controlTokens(first: tokens.count, count: reserved + 2, config: config)
    }

    /// `tiktoken.model` → [rank]: bytes. Ranks must be 0..<n, each once (the ids of the model).
    static func ranks(_ bytes: [UInt8]) throws -> [[UInt8]] {
        func bad(_ detail: String) -> TokenizerError { .malformed(file: vocabularyFile, detail: detail) }
        var byRank: [[UInt8]?] = []
        var line = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            line += 1
            let fields = raw.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") })
            if fields.isEmpty { continue }
            guard fields.count == 2, let token = Data(base64Encoded: Data(fields[0])),
                  let rank = Int(String(decoding: fields[1], as: UTF8.self)), rank >= 0 else {
                throw bad("line \(line) is not \"base64 rank\"")
            }
            guard rank < 1 << 24 else { throw bad("line \(line): rank \(rank) is out of range") }
            if rank >= byRank.count { byRank += [[UInt8]?](repeating: nil, count: rank + 1 - byRank.count) }
            guard byRank[rank] == nil else { throw bad("rank \(rank) appears twice") }
            guard !token.isEmpty else { throw bad("line \(line) has an empty token") }
            byRank[rank] = Array(token)
        }
        guard !byRank.isEmpty else { throw bad("no tokens") }
        if let gap = byRank.firstIndex(where: { $0 == nil }) { throw bad("no token of rank \(gap)") }
        return byRank.map { $0! }
    }

    /// The Python module of the folder's TikTokenTokenizer: the one tokenizer_config.json's
    /// `auto_map.AutoTokenizer[0]` names ("tokenization_kimi.TikTokenTokenizer", or with the repository
    /// it came from, "moonshotai/Kimi-K2-Instruct--tokenization_kimi.TikTokenTokenizer") when the folder
    /// has it, else the folder's only `tokenization_*.py`.
    static func tokenizerSource(folder: URL, config: JSONValue) throws -> (name: String, text: String) {
        var name: String?
        if let entry = config["auto_map"]?["AutoTokenizer"], let ref = entry.array?.first?.string ?? entry.string,
           let module = ref.components(separatedBy: "--").last?.split(separator: ".").dropLast().last,
           module.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
           FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(module).py").path) {
            name = "\(module).py"
        }
        if name == nil {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            let candidates = files.filter { $0.hasPrefix("tokenization_") && $0.hasSuffix(".py") }.sorted()
            guard candidates.count == 1 else {
                throw TokenizerError.unsupported(
                    component: "tiktoken.model without its tokenization_*.py",
                    detail: candidates.isEmpty ? "the folder has no tokenization_*.py to take the pre-tokenizer pattern from"
                                               : "several candidates (\(candidates.joined(separator: ", "))) and none named by auto_map.AutoTokenizer")
            }
            name = candidates[0]
        }
        let path = folder.appendingPathComponent(name!).path
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.fileMissing(path: path) }
        return (name!, String(decoding: data, as: UTF8.self))
    }

    /// `pat_str = "|".join([r"""a""", r"""b""", ...])` → "a|b|...". Only raw string literals (r"..." /
    /// r'...' / r"""...""") are taken: their text is the pattern byte for byte.
    static func pattern(_ source: String, file: String) throws -> String {
        func unsupported(_ detail: String) -> TokenizerError {
            .unsupported(component: "tiktoken pre-tokenizer pattern of \(file)", detail: detail)
        }
        guard let start = source.range(of: "pat_str = \"|\".join(") else {
            throw unsupported("no `pat_str = \"|\".join([...])` in it")
        }
        var s = Substring(source[start.upperBound...])
        func skipSpace() {
            while let c = s.first, c.isWhitespace || c == "," { s = s.dropFirst() }
            if s.first == "#" { while let c = s.first, c != "\n" { s = s.dropFirst() }; skipSpace() }
        }
        skipSpace()
        guard s.first == "[" else { throw unsupported("pat_str does not join a list literal") }
        s = s.dropFirst()
        var parts: [String] = []
        while true {
            skipSpace()
            if s.first == "]" { break }
            guard s.first == "r" || s.first == "R" else { throw unsupported("pat_str joins something other than raw string literals") }
            s = s.dropFirst()
            let quote = s.hasPrefix("\"\"\"") ? "\"\"\"" : s.hasPrefix("'''") ? "'''" : s.first.map { String($0) } ?? ""
            guard quote == "\"" || quote == "'" || quote.count == 3 else { throw unsupported("a pat_str part is not a string literal") }
            s = s.dropFirst(quote.count)
            guard let end = s.range(of: quote) else { throw unsupported("an unterminated pat_str part") }
            parts.append(String(s[..<end.lowerBound]))
            s = s[end.upperBound...]
        }
        guard !parts.isEmpty else { throw unsupported("pat_str joins an empty list") }
        return parts.joined(separator: "|")
    }

    /// `num_reserved_special_tokens = N` of the class (256 in Moonlight's and Kimi-K2's).
    static func reservedCount(_ source: String, file: String) throws -> Int {
        guard let r = source.range(of: "num_reserved_special_tokens = ") else {
            throw TokenizerError.unsupported(component: "tiktoken control tokens of \(file)",
                                             detail: "no `num_reserved_special_tokens = N` in it")
        }
        let digits = source[r.upperBound...].prefix { $0.isASCII && $0.isNumber }
        guard let n = Int(digits), n <= 1 << 16 else {
            throw TokenizerError.unsupported(component: "tiktoken control tokens of \(file)", detail: "num_reserved_special_tokens is not a number")
        }
        return n
    }

    /// Ids first..<first + count: named from tokenizer_config.json's `added_tokens_decoder`, with its
    /// flags; the rest `<|reserved_token_ID|>`, special. A named id outside the block is refused (the
    /// class would not know it either).
    static func controlTokens(first: Int, count: Int, config: JSONValue) throws -> [AddedToken] {
        var named: [Int: AddedToken] = [:]
        for (key, entry) in config["added_tokens_decoder"]?.objectPairs ?? [] {
            guard let id = Int(key), let content = entry["content"]?.string else {
                throw TokenizerError.malformed(file: "tokenizer_config.json", detail: "added_tokens_decoder entry \(key.debugDescription) has no id or content")
            }
            guard (first..<first + count).contains(id) else {
                throw TokenizerError.unsupported(component: "added token \(content.debugDescription) (id \(id))",
                                                 detail: "a tiktoken folder's added tokens are its control ids \(first)..<\(first + count)")
            }
            named[id] = AddedToken(id: id, content: content, singleWord: entry["single_word"]?.bool ?? false,
                                   lstrip: entry["lstrip"]?.bool ?? false, rstrip: entry["rstrip"]?.bool ?? false,
                                   normalized: false, special: entry["special"]?.bool ?? true)
        }
        return (first..<first + count).map { id in
            named[id] ?? AddedToken(id: id, content: "<|reserved_token_\(id)|>", singleWord: false, lstrip: false,
                                    rstrip: false, normalized: false, special: true)
        }
    }

    /// How the TikTokenTokenizer's `encode` cuts text before tiktoken sees it: into pieces of at most
    /// 400,000 scalars, each then wherever a run of whitespace or of non-whitespace (Python's
    /// `str.isspace`) would pass 25,000 scalars. The cuts change the tokens of such runs, so they are
    /// part of the tokenizer.
    struct RunLimits {
        let chunk = 400_000
        let run = 25_000

        func cut(_ s: [UInt32]) -> [ArraySlice<UInt32>] {
            var out: [ArraySlice<UInt32>] = []
            var chunkStart = 0
            while chunkStart < s.count {
                let chunkEnd = min(chunkStart + chunk, s.count)
                var sliceStart = chunkStart, length = 0
                var inSpace = Self.isSpace(s[chunkStart])
                for i in chunkStart..<chunkEnd {
                    let space = Self.isSpace(s[i])
                    if space != inSpace {
                        length = 1
                        inSpace = space
                    } else {
                        length += 1
                        if length > run {
                            out.append(s[sliceStart..<i])
                            sliceStart = i
                            length = 1
                        }
                    }
                }
                out.append(s[sliceStart..<chunkEnd])
                chunkStart = chunkEnd
            }
            return out
        }

        /// Python's `str.isspace` on one scalar: White_Space, and the separators U+001C–U+001F.
        static func isSpace(_ c: UInt32) -> Bool {
            if (0x1C...0x1F).contains(c) { return true }
            return Unicode.Scalar(c)?.properties.isWhitespace ?? false
        }
    }

    static let runLimits = RunLimits()
}
