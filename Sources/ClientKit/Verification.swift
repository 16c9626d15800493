/// `pd-client generate --verify`: the service's token sequences against a reference generation of
/// the same prompts (greedy, or seeded sampling with the request's parameters). The reference is
/// supplied by the caller, so this library needs no model code (pd-client computes it with Engine).
public enum Verification {
    /// Record i answered prompts[i % prompts.count]. Failed requests are not compared (they are
    /// reported as failures); `reference` runs once per prompt that has a successful record.
    public static func compare(records: [GenerationRecord], prompts: [[UInt32]],
                               reference: ([UInt32]) throws -> [Int]) rethrows -> VerificationReport {
        var references: [Int: [Int]] = [:]
        var mismatches: [TokenMismatch] = []
        var compared = 0
        for (i, record) in records.enumerated() where record.error == nil {
            let p = i % prompts.count
            let expected = try references[p] ?? reference(prompts[p])
            references[p] = expected
            compared += 1
            if record.tokens != expected {
                mismatches.append(TokenMismatch(request: i, requestID: record.requestID, tokens: record.tokens, reference: expected))
            }
        }
        return VerificationReport(compared: compared, mismatches: mismatches)
    }
}

/// The outcome of `Verification.compare`.
public struct VerificationReport: Sendable, Equatable {
    /// Successful requests compared with their reference.
    public let compared: Int
    public let mismatches: [TokenMismatch]

    public var verified: Bool { mismatches.isEmpty }
}

/// One request whose tokens differ from the reference generation of its prompt.
public struct TokenMismatch: Sendable, Equatable, CustomStringConvertible {
    /// Index of the request in the run, and the id the service gave it.
    public let request: Int, requestID: String
    public let tokens: [Int], reference: [Int]

    public var description: String { "request \(request) (\(requestID)): got \(tokens), reference \(reference)" }
}
