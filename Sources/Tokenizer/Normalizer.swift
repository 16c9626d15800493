import Foundation

/// HF normalizers used by DeepSeek / Kimi-family files. Text is handled as Unicode scalar values.
indirect enum Normalizer {
    case sequence([Normalizer])
    case nfc, nfkc, nfd, nfkd
    case lowercase
    case prepend([UInt32])
    case replace(SplitPattern, content: [UInt32])
    case strip(left: Bool, right: Bool)

    static func load(_ json: JSONValue) throws -> Normalizer? {
        if json.isNull { return nil }
        guard let type = json["type"]?.string else { throw TokenizerError.malformed(file: "tokenizer.json", detail: "normalizer without type") }
        switch type {
        case "Sequence":
            return .sequence(try (json["normalizers"]?.array ?? []).compactMap { try load($0) })
        case "NFC": return .nfc
        case "NFKC": return .nfkc
        case "NFD": return .nfd
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend":
            return .prepend(scalars(json["prepend"]?.string ?? ""))
        case "Replace":
            guard let pattern = json["pattern"], let content = json["content"]?.string else {
                throw TokenizerError.malformed(file: "tokenizer.json", detail: "Replace normalizer without pattern/content")
            }
            return .replace(try SplitPattern.load(pattern), content: scalars(content))
        case "Strip":
            return .strip(left: json["strip_left"]?.bool ?? true, right: json["strip_right"]?.bool ?? true)
        default:
            throw TokenizerError.unsupported(component: "normalizer \(type)", detail: "supported: Sequence, NFC, NFKC, NFD, NFKD, Lowercase, Prepend, Replace, Strip")
        }
    }

    func normalize(_ s: [UInt32]) -> [UInt32] {
        switch self {
        case let .sequence(list): return list.reduce(s) { $1.normalize($0) }
        // Foundation's decompositions on Linux skip canonical reordering after a compatibility
        // decomposition, so the marks are put in order here before composing.
        case .nfc: return scalars(string(Normalizer.canonicalOrder(string(s).decomposedStringWithCanonicalMapping)).precomposedStringWithCanonicalMapping)
        case .nfkc: return scalars(string(Normalizer.canonicalOrder(string(s).decomposedStringWithCompatibilityMapping)).precomposedStringWithCanonicalMapping)
        case .nfd: return Normalizer.canonicalOrder(string(s).decomposedStringWithCanonicalMapping)
        case .nfkd: return Normalizer.canonicalOrder(string(s).decomposedStringWithCompatibilityMapping)
        case .lowercase: return scalars(string(s).lowercased())
        case let .prepend(p): return s.isEmpty ? s : p + s
        case let .replace(pattern, content):
            var out: [UInt32] = []
            var last = 0
            for (a, b) in pattern.matches(in: s) {
                out += s[last..<a]
                out += content
                last = b
            }
            out += s[last...]
            return out
        case let .strip(left, right):
            var lo = 0, hi = s.count
            if left { while lo < hi, isWhitespace(s[lo]) { lo += 1 } }
            if right { while hi > lo, isWhitespace(s[hi - 1]) { hi -= 1 } }
            return Array(s[lo..<hi])
        }
    }
}

extension Normalizer {
    /// The canonical ordering algorithm: each run of non-starters stably sorted by combining class.
    static func canonicalOrder(_ text: String) -> [UInt32] {
        var out = scalars(text)
        var i = 0
        while i < out.count {
            guard ccc(out[i]) != 0 else { i += 1; continue }
            var j = i
            while j < out.count, ccc(out[j]) != 0 { j += 1 }
            if j - i > 1 {
                let run = out[i..<j].enumerated().sorted { (ccc($0.element), $0.offset) < (ccc($1.element), $1.offset) }
                out.replaceSubrange(i..<j, with: run.map(\.element))
            }
            i = j
        }
        return out
    }

    private static func ccc(_ c: UInt32) -> Int {
        Unicode.Scalar(c).map { Int($0.properties.canonicalCombiningClass.rawValue) } ?? 0
    }
}

/// The scalar values of `s` (decoded from its UTF-8 directly when contiguous: the hot start of encode).
func scalars(_ s: String) -> [UInt32] {
    var s = s
    return s.withUTF8 { u in
        var out = [UInt32]()
        out.reserveCapacity(u.count)
        var i = 0
        let n = u.count
        while i < n {  // valid UTF-8 (a Swift String)
            let b = UInt32(u[i])
            if b < 0x80 {
                out.append(b); i += 1
            } else if b < 0xE0 {
                out.append((b & 0x1F) << 6 | UInt32(u[i + 1]) & 0x3F); i += 2
            } else if b < 0xF0 {
                out.append((b & 0x0F) << 12 | (UInt32(u[i + 1]) & 0x3F) << 6 | UInt32(u[i + 2]) & 0x3F); i += 3
            } else {
                out.append((b & 0x07) << 18 | (UInt32(u[i + 1]) & 0x3F) << 12 | (UInt32(u[i + 2]) & 0x3F) << 6 | UInt32(u[i + 3]) & 0x3F)
                i += 4
            }
        }
        return out
    }
}

func string(_ s: some Sequence<UInt32>) -> String {
    var out = String.UnicodeScalarView()
    for v in s { out.append(Unicode.Scalar(v) ?? "\u{FFFD}") }
    return String(out)
}

/// Rust's `char::is_whitespace` (the White_Space property).
func isWhitespace(_ c: UInt32) -> Bool { Unicode.Scalar(c)?.properties.isWhitespace ?? false }
