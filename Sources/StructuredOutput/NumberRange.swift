/// The numbers a JSON Schema's `minimum` / `maximum` / `exclusiveMinimum` / `exclusiveMaximum` allow, as a
/// pattern (Python `re` syntax, matched whole) over the one spelling served for a bounded number: an
/// integer `-?(0|[1-9][0-9]*)`, a number that and an optional `.digits`; no exponent, no negative zero.
/// A bound on a number must be a whole number (then every piece is a digit-wise integer range, with or
/// without a fraction); an integer's bounds round inward.
enum NumberRange {
    struct Bound: Equatable {
        let value: Int64
        let exclusive: Bool
    }

    /// Bounds and values this far from zero stay exact in a Double and short in digits.
    static let limit: Int64 = 1_000_000_000_000_000

    /// The tighter of two lower bounds (`tighter(a, b, lower: false)`: of two upper bounds).
    static func tighter(_ a: Bound?, _ b: Bound?, lower: Bool) -> Bound? {
        guard let a, let b else { return a ?? b }
        if a.value != b.value { return (a.value > b.value) == lower ? a : b }
        return a.exclusive ? a : b
    }

    /// A schema's bound (`exclusive`: exclusiveMinimum / exclusiveMaximum) as served: an integer's rounds
    /// inward to an inclusive one; a number's must be whole. Nil: not a whole number within ±`limit`.
    static func bound(_ value: Double, exclusive: Bool, lower: Bool, integerOnly: Bool) -> Bound? {
        guard abs(value) <= Double(limit) else { return nil }
        if value == value.rounded() { return Bound(value: Int64(value), exclusive: exclusive) }
        guard integerOnly else { return nil }
        return Bound(value: Int64(lower ? value.rounded(.up) : value.rounded(.down)), exclusive: false)
    }

    /// The pattern of the values in the range, or nil when it holds none.
    static func pattern(lower: Bound?, upper: Bound?, integerOnly: Bool) -> String? {
        // Magnitudes u > 0 written after a minus: x = −u, so x ≥ L ⟺ u ≤ −L and x ≤ H ⟺ u ≥ −H.
        var negative: [String] = []
        if lower.map({ $0.value < 0 }) ?? true {
            let smallest = upper.flatMap { $0.value < 0 ? Bound(value: -$0.value, exclusive: $0.exclusive) : nil } ?? Bound(value: 0, exclusive: true)
            negative = magnitudes(from: smallest, to: lower.map { Bound(value: -$0.value, exclusive: $0.exclusive) }, integerOnly: integerOnly)
        }
        var positive: [String] = []
        if upper.map({ $0.value > 0 || ($0.value == 0 && !$0.exclusive) }) ?? true {
            let smallest = lower.flatMap { $0.value > 0 || ($0.value == 0 && $0.exclusive) ? $0 : nil }
            positive = magnitudes(from: smallest, to: upper, integerOnly: integerOnly)
        }
        let all = negative.map { "-" + $0 } + positive
        return all.isEmpty ? nil : "(?:" + all.joined(separator: "|") + ")"
    }

    /// Spellings without a sign of the values u ≥ 0 between `from` (value ≥ 0; nil: 0) and `to` (nil: no
    /// end), each a piece of an alternation.
    private static func magnitudes(from lower: Bound?, to upper: Bound?, integerOnly: Bool) -> [String] {
        let low = lower.map { $0.exclusive ? $0.value + 1 : $0.value } ?? 0
        if integerOnly {
            let high = upper.map { $0.exclusive ? $0.value - 1 : $0.value }
            return naturals(low, high)
        }
        // u = I.F: u ≥ L ⟺ I ≥ L; u > L ⟺ I > L, or I = L with a fraction not all zeros;
        // u < H ⟺ I ≤ H − 1; u ≤ H ⟺ I ≤ H − 1, or I = H with a fraction of zeros only.
        let fraction = "(?:\\.[0-9]+)?"
        var pieces = naturals(low, upper.map { $0.value - 1 }).map { $0 + fraction }
        if let upper, !upper.exclusive, upper.value >= low {
            pieces.append("\(upper.value)(?:\\.0+)?")
        }
        if let lower, lower.exclusive, upper.map({ $0.value > lower.value }) ?? true {
            pieces.append("\(lower.value)\\.[0-9]*[1-9][0-9]*")
        }
        return pieces
    }

    /// Decimal spellings (no leading zeros) of the integers in [a, b] (b nil: no end), a ≥ 0.
    private static func naturals(_ a: Int64, _ b: Int64?) -> [String] {
        if let b, b < a { return [] }
        let first = String(a).count
        guard let b else {
            return [sameLength(Array(String(a)), Array(String(repeating: "9", count: first))), "[1-9][0-9]{\(first),}"]
        }
        var pieces: [String] = []
        for length in first...String(b).count {
            let lowest = max(a, length == 1 ? 0 : power(length - 1)), highest = min(b, power(length) - 1)
            pieces.append(sameLength(Array(String(lowest)), Array(String(highest))))
        }
        return pieces
    }

    private static func power(_ n: Int) -> Int64 { (0..<n).reduce(1) { r, _ in r * 10 } }

    /// The numerals of x's length from x to y (x ≤ y), digit by digit.
    private static func sameLength(_ x: [Character], _ y: [Character]) -> String {
        guard let x0 = x.first, let y0 = y.first else { return "" }
        let xs = Array(x.dropFirst()), ys = Array(y.dropFirst()), rest = xs.count
        if x0 == y0 { return String(x0) + sameLength(xs, ys) }
        if xs.allSatisfy({ $0 == "0" }) && ys.allSatisfy({ $0 == "9" }) { return "[\(x0)-\(y0)]" + (rest > 0 ? "[0-9]{\(rest)}" : "") }
        var options = [String(x0) + sameLength(xs, Array(repeating: "9", count: rest))]
        let inner = (x0.wholeNumberValue! + 1, y0.wholeNumberValue! - 1)
        if inner.0 <= inner.1 { options.append("[\(inner.0)-\(inner.1)][0-9]{\(rest)}") }
        options.append(String(y0) + sameLength(Array(repeating: "0", count: rest), ys))
        return "(?:" + options.joined(separator: "|") + ")"
    }
}
