/// Makes a step that may fail on some ranks fail on all of them together, with every rank's
/// message collected at rank 0 — instead of one rank leaving and the others hanging in the next
/// collective. Every rank must call it at the same point.
public struct RankFailures: Error, CustomStringConvertible {
    /// (rank, message) for every rank that failed, as known at rank 0 (other ranks know only their own).
    public let failures: [(rank: Int, message: String)]
    public var description: String {
        var seen = Set<String>(), lines: [String] = []
        for f in failures where seen.insert(f.message).inserted {
            let ranks = failures.filter { $0.message == f.message }.map { String($0.rank) }.joined(separator: ",")
            lines.append(failures.count > 1 || f.rank != 0 ? "rank \(ranks): \(f.message)" : f.message)
        }
        return lines.joined(separator: "\n")
    }
}

extension Communicator {
    /// Runs `body` on every rank; if it throws on any rank, throws RankFailures on all ranks.
    public func agreed<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        var message = ""
        do { result = try body() } catch { message = String(describing: error) }
        let anyFailed = try allReduceMax(message.isEmpty ? 0 : 1) > 0
        guard anyFailed else { return result! }
        let all = try gatherBytes(Array(message.utf8), root: 0)
        if rank == 0 {
            throw RankFailures(failures: all.enumerated().compactMap { r, bytes in
                bytes.isEmpty ? nil : (r, String(decoding: bytes, as: UTF8.self))
            })
        }
        throw RankFailures(failures: message.isEmpty ? [] : [(rank, message)])
    }
}
