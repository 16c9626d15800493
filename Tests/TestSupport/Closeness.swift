import XCTest

/// How far `actual` is from `expected`, element by element, without the two blind spots of a
/// hand-written `max(worst, abs(a - b))` over `zip`: a NaN difference never wins `Swift.max`
/// (it keeps the old value) and `zip` stops at the shorter side. Here a count mismatch or any
/// NaN/±Inf on either side makes the comparison fail, whatever the tolerance.
public struct Closeness: CustomStringConvertible {
    private let actual: [Double], expected: [Double]
    /// First index holding NaN or ±Inf, in actual or in expected.
    public let nonFiniteIndex: Int?
    /// max |actual[i] − expected[i]| (meaningful only when `isComparable`).
    public let maxAbsDiff: Double
    /// Index of the largest difference.
    public let worstIndex: Int?
    /// max |expected[i]|: the scale a whole-tensor relative tolerance is taken against.
    public let scale: Double

    public var isComparable: Bool { actual.count == expected.count && nonFiniteIndex == nil }

    /// Largest difference over the largest |expected| (whole-tensor relative error); NaN when the
    /// comparison is meaningless, so every `<` or `<=` check on it fails.
    public var maxRelDiff: Double { isComparable ? maxAbsDiff / Swift.max(scale, .leastNormalMagnitude) : .nan }

    public init<A: Collection, E: Collection>(_ actual: A, _ expected: E)
    where A.Element: BinaryFloatingPoint, E.Element: BinaryFloatingPoint {
        let a = actual.map { Double($0) }, e = expected.map { Double($0) }
        self.actual = a
        self.expected = e
        nonFiniteIndex = (0..<Swift.max(a.count, e.count)).first { i in
            (i < a.count && !a[i].isFinite) || (i < e.count && !e[i].isFinite)
        }
        var worst = 0.0, worstIndex: Int?
        for i in 0..<Swift.min(a.count, e.count) {
            let d = abs(a[i] - e[i])
            if worstIndex == nil || !(d <= worst) { worst = d; worstIndex = i }   // a NaN difference wins
        }
        maxAbsDiff = worst
        self.worstIndex = worstIndex
        scale = e.reduce(0) { Swift.max($0, abs($1)) }
    }

    /// The first index with |actual[i] − expected[i]| > max(absTol, relTol · reference), where the
    /// reference is max |expected| (whole tensor) or |expected[i]| (`elementwise`); nil when all pass.
    public func firstBeyond(absTol: Double, relTol: Double, elementwise: Bool) -> Int? {
        actual.indices.first { i in
            let bound = Swift.max(absTol, relTol * (elementwise ? abs(expected[i]) : scale))
            return !(abs(actual[i] - expected[i]) <= bound)
        }
    }

    /// Same count, every value finite, every difference within max(absTol, relTol · reference).
    public func within(absTol: Double, relTol: Double, elementwise: Bool = false) -> Bool {
        isComparable && firstBeyond(absTol: absTol, relTol: relTol, elementwise: elementwise) == nil
    }

    public var description: String {
        if actual.count != expected.count { return "count mismatch: actual has \(actual.count) values, expected \(expected.count)" }
        if let i = nonFiniteIndex { return "non-finite value at index \(i): actual \(actual[i]), expected \(expected[i])" }
        guard let w = worstIndex else { return "both empty" }
        return "max |diff| \(maxAbsDiff) at index \(w) (actual \(actual[w]), expected \(expected[w])); "
            + "max |expected| \(scale), relative \(maxRelDiff); \(actual.count) values"
    }
}

/// max |a[i] − b[i]|, or NaN (so any `<`/`<=` check fails) on a count mismatch or a NaN/±Inf on either side.
public func maxAbsDiff<A: Collection, E: Collection>(_ a: A, _ b: E) -> Double
where A.Element: BinaryFloatingPoint, E.Element: BinaryFloatingPoint {
    let c = Closeness(a, b)
    return c.isComparable ? c.maxAbsDiff : .nan
}

/// Fails unless `actual` and `expected` have the same count, hold only finite values, and every
/// |actual[i] − expected[i]| ≤ max(absTol, relTol · reference): reference = max |expected| (the
/// whole-tensor relative error the golden and PCP checks use), or |expected[i]| when `elementwise`.
@discardableResult
public func assertClose<A: Collection, E: Collection>(_ actual: A, _ expected: E, absTol: Double = 0, relTol: Double = 0,
                                                      elementwise: Bool = false, _ message: @autoclosure () -> String = "",
                                                      file: StaticString = #filePath, line: UInt = #line) -> Closeness
where A.Element: BinaryFloatingPoint, E.Element: BinaryFloatingPoint {
    let c = Closeness(actual, expected)
    if !c.isComparable {
        XCTFail("\(message()): \(c)", file: file, line: line)
    } else if let i = c.firstBeyond(absTol: absTol, relTol: relTol, elementwise: elementwise) {
        let reference = elementwise ? "|expected[i]|" : "max |expected| \(c.scale)"
        XCTFail("\(message()): index \(i) beyond max(absTol \(absTol), relTol \(relTol) · \(reference)); \(c)", file: file, line: line)
    }
    return c
}

/// Fails unless both sides have the same count, hold only finite values and are equal bit for bit
/// (wire and transport rows, which must arrive exactly).
public func assertBitIdentical<A: Collection, E: Collection>(_ actual: A, _ expected: E, _ message: @autoclosure () -> String = "",
                                                             file: StaticString = #filePath, line: UInt = #line)
where A.Element == Float, E.Element == Float {
    let c = Closeness(actual, expected)
    guard c.isComparable else { return XCTFail("\(message()): \(c)", file: file, line: line) }
    if let i = zip(actual, expected).enumerated().first(where: { $0.element.0.bitPattern != $0.element.1.bitPattern })?.offset {
        XCTFail("\(message()): first differing bits at index \(i); \(c)", file: file, line: line)
    }
}
