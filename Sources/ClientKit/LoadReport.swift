import Basics
import Foundation

/// Percentiles (nearest rank) of a sample, in the unit given.
public struct Percentiles: Encodable, Sendable {
    public let p50: Double, p90: Double, p99: Double, mean: Double, count: Int

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func rank(_ p: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))] }
        p50 = rank(0.5); p90 = rank(0.9); p99 = rank(0.99)
        mean = values.reduce(0, +) / Double(values.count)
        count = values.count
    }
}

/// Aggregate figures of a load run: latencies in milliseconds, throughput in tokens/s, KV in GB/s.
public struct LoadSummary: Encodable, Sendable {
    public let requests: Int
    public let failed: Int
    public let wall_seconds: Double
    public let output_tokens: Int
    public let output_tokens_per_second: Double
    public let ttft_ms: Percentiles?
    public let tpot_ms: Percentiles?
    public let itl_ms: Percentiles?
    public let e2e_ms: Percentiles?
    public let kv_bytes_total: UInt64
    public let kv_transfer_gbps: Percentiles?
    /// KV shipping that added to TTFT (not hidden behind compute), as a share of TTFT.
    public let kv_exposed_share_of_ttft: Percentiles?

    public init(records: [GenerationRecord], wallSeconds: Double) {
        let ok = records.filter { $0.error == nil }
        requests = records.count
        failed = records.count - ok.count
        wall_seconds = wallSeconds
        output_tokens = ok.reduce(0) { $0 + $1.tokens.count }
        output_tokens_per_second = wallSeconds > 0 ? Double(output_tokens) / wallSeconds : 0
        ttft_ms = Percentiles(ok.map { $0.ttft * 1000 })
        tpot_ms = Percentiles(ok.compactMap { $0.tpot.map { $0 * 1000 } })
        itl_ms = Percentiles(ok.flatMap { $0.interTokenLatencies.map { $0 * 1000 } })
        e2e_ms = Percentiles(ok.map { $0.endToEnd * 1000 })
        kv_bytes_total = ok.reduce(0) { $0 + $1.kvBytes }
        kv_transfer_gbps = Percentiles(ok.compactMap { $0.kvTransferSeconds > 0 ? Double($0.kvBytes) / $0.kvTransferSeconds / 1e9 : nil })
        kv_exposed_share_of_ttft = Percentiles(ok.compactMap { $0.ttft > 0 ? $0.kvExposedSeconds / $0.ttft : nil })
    }
}

/// Runs `count` requests with at most `concurrency` in flight (one thread each).
public enum LoadRunner {
    private final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var records: [GenerationRecord?]
        init(count: Int) { records = [GenerationRecord?](repeating: nil, count: count) }
        func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next - 1 }
        func put(_ r: GenerationRecord, at i: Int) { lock.lock(); records[i] = r; lock.unlock() }
    }

    public static func run(count: Int, concurrency: Int, _ body: @escaping @Sendable (Int) -> GenerationRecord) -> (records: [GenerationRecord], wallSeconds: Double) {
        let shared = Shared(count: count)
        let group = DispatchGroup()
        let start = monotonicSeconds()
        for _ in 0..<max(1, min(concurrency, count)) {
            group.enter()
            Thread.detachNewThread {
                while case let i = shared.take(), i < count { shared.put(body(i), at: i) }
                group.leave()
            }
        }
        group.wait()
        return (shared.records.map { $0! }, monotonicSeconds() - start)
    }
}
