import Foundation

/// How the model benchmarks print: one pretty, key-sorted JSON object, or fixed-digit numbers.
enum BenchOutput {
    static func json(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func format(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
}
