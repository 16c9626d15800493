/// HF decoders: tokens → text pieces, chained; the pieces are joined at the end.
indirect enum Decoder {
    case sequence([Decoder])
    case byteLevel
    case replace(SplitPattern, content: String)
    case fuse
    case strip(content: UInt32, start: Int, stop: Int)
    case byteFallback

    static func load(_ json: JSONValue) throws -> Decoder? {
        if json.isNull { return nil }
        guard let type = json["type"]?.string else { throw TokenizerError.malformed(file: "tokenizer.json", detail: "decoder without type") }
        switch type {
        case "Sequence": return .sequence(try (json["decoders"]?.array ?? []).compactMap { try load($0) })
        case "ByteLevel": return .byteLevel
        case "Replace":
            guard let pattern = json["pattern"], let content = json["content"]?.string else {
                throw TokenizerError.malformed(file: "tokenizer.json", detail: "Replace decoder without pattern/content")
            }
            return .replace(try SplitPattern.load(pattern), content: content)
        case "Fuse": return .fuse
        case "Strip":
            let content = json["content"]?.string?.unicodeScalars.first?.value ?? 0x20
            return .strip(content: content, start: json["start"]?.int ?? 0, stop: json["stop"]?.int ?? 0)
        case "ByteFallback": return .byteFallback
        default:
            throw TokenizerError.unsupported(component: "decoder \(type)", detail: "supported: Sequence, ByteLevel, Replace, Fuse, Strip, ByteFallback")
        }
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case let .sequence(list):
            return list.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel:
            // All tokens' bytes, then one lossy UTF-8 decode; a token with a scalar outside the byte
            // alphabet contributes its own UTF-8.
            var bytes: [UInt8] = []
            for t in tokens { bytes += ByteLevelAlphabet.decode(t) ?? Array(t.utf8) }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .replace(pattern, content):
            return tokens.map { t in
                let s = scalars(t)
                var out = ""
                var last = 0
                for (a, b) in pattern.matches(in: s) {
                    out += string(s[last..<a]) + content
                    last = b
                }
                return out + string(s[last...])
            }
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { t in
                var s = scalars(t)
                var lead = 0
                while lead < start, lead < s.count, s[lead] == content { lead += 1 }
                var trail = 0
                while trail < stop, trail < s.count - lead, s[s.count - 1 - trail] == content { trail += 1 }
                s = Array(s[lead..<(s.count - trail)])
                return string(s)
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let valid = String(validating: pending, as: UTF8.self) {
                    out.append(valid)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Self.fallbackByte(t) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        }
    }

    /// The byte of a byte-fallback token ("<0x0A>"), or nil.
    static func fallbackByte(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, token.hasPrefix("<0x"), u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    /// Whether the chain has a ByteLevel (or ByteFallback) step.
    var decodesByteLevel: Bool { includes { if case .byteLevel = $0 { return true } else { return false } } }
    var decodesByteFallback: Bool { includes { if case .byteFallback = $0 { return true } else { return false } } }

    private func includes(_ step: (Decoder) -> Bool) -> Bool {
        if case let .sequence(list) = self { return list.contains { $0.includes(step) } }
        return step(self)
    }
}
