/// Stop strings over streamed text, as OpenAI's and vLLM's APIs define them: generation ends at
/// the first occurrence of any stop string, matched across token boundaries, and the returned text
/// stops right before it. While streaming, text that could still become the start of a stop
/// string is held back, so no client ever sees part of a stop string. Matching is by Unicode
/// scalar (Python `str` semantics), so a stop string inside a longer grapheme still matches.
public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private let stopScalars: [[Unicode.Scalar]]
    /// Text received but not yet released: at most the longest stop string minus one scalar.
    private var held: [Unicode.Scalar] = []
    public private(set) var matched: String?

    /// Empty stop strings are ignored (OpenAI rejects them; a caller validates before this).
    public init(_ stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
        stopScalars = self.stops.map { Array($0.unicodeScalars) }
    }

    public var isEmpty: Bool { stops.isEmpty }

    /// Takes the next piece of decoded text; returns the text that can be released now. Once a stop
    /// string matched, `matched` is set and everything from it on is dropped.
    public mutating func feed(_ piece: String) -> String {
        guard matched == nil else { return "" }
        if stops.isEmpty { return piece }
        held.append(contentsOf: piece.unicodeScalars)
        // Earliest match start over all stop strings (ties: the longer stop string was listed first
        // or not — the text before it is the same either way).
        var best: (start: Int, stop: Int)?
        for (k, stop) in stopScalars.enumerated() where stop.count <= held.count {
            if let at = Self.firstIndex(of: stop, in: held), best == nil || at < best!.start { best = (at, k) }
        }
        if let best {
            matched = stops[best.stop]
            let released = String(String.UnicodeScalarView(held[..<best.start]))
            held.removeAll()
            return released
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        var keep = 0
        for stop in stopScalars {
            let limit = min(stop.count - 1, held.count)
            if limit <= keep { continue }
            for length in stride(from: limit, to: keep, by: -1)
            where held[(held.count - length)...].elementsEqual(stop[..<length]) {
                keep = length
                break
            }
        }
        let cut = held.count - keep
        let released = String(String.UnicodeScalarView(held[..<cut]))
        held.removeFirst(cut)
        return released
    }

    /// At the end of generation without a match: the held-back text.
    public mutating func finish() -> String {
        defer { held.removeAll() }
        return matched == nil ? String(String.UnicodeScalarView(held)) : ""
    }

    private static func firstIndex(of needle: [Unicode.Scalar], in haystack: [Unicode.Scalar]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        outer: for start in 0...(haystack.count - needle.count) {
            for j in needle.indices where haystack[start + j] != needle[j] { continue outer }
            return start
        }
        return nil
    }
}
