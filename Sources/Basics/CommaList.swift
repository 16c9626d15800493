/// The one parser of comma-separated command-line lists (`--prompt-ids 3,17,42`, `--batch 1,4,8`,
/// `--prefill host:port,host:port`): items are split at commas, trimmed of spaces, empty items
/// skipped ("" is the empty list), and each converted by the caller.
public enum CommaList {
    /// The trimmed, non-empty items of `text`.
    public static func items(_ text: String) -> [String] {
        text.split(separator: ",").map(trimmed).filter { !$0.isEmpty }
    }

    private static func trimmed(_ item: Substring) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = item.firstIndex(where: { !blank($0) }), let last = item.lastIndex(where: { !blank($0) }) else { return "" }
        return String(item[first...last])
    }

    /// Each item converted by `element`; the first one it rejects (nil) throws a CommaListError
    /// naming `option`, the item and what was `expected` (e.g. "a token id").
    public static func parse<T>(_ text: String, option: String, expected: String,
                                _ element: (String) throws -> T?) throws -> [T] {
        try items(text).map { item in
            guard let value = try element(item) else { throw CommaListError(option: option, item: item, expected: expected) }
            return value
        }
    }

    /// Integers ≥ `minimum`, e.g. token ids (≥ 0) or lengths (≥ 1).
    public static func integers<T: FixedWidthInteger>(_ text: String, option: String, atLeast minimum: T,
                                                      expected: String) throws -> [T] {
        try parse(text, option: option, expected: expected) { T($0).flatMap { $0 >= minimum ? $0 : nil } }
    }
}

/// An item of a comma-separated option that is not what the option takes.
public struct CommaListError: Error, Equatable, CustomStringConvertible {
    public let option: String, item: String, expected: String

    public init(option: String, item: String, expected: String) {
        self.option = option; self.item = item; self.expected = expected
    }

    public var description: String { "\(option): '\(item)' is not \(expected)" }
}
