/// Why a communicator self-test failed.
public enum CommunicatorSelfTestError: Error, CustomStringConvertible {
    case mismatch(check: String, rank: Int, round: Int, detail: String)
    case injectedFailure(rank: Int, round: Int)

    public var description: String {
        switch self {
        case let .mismatch(check, rank, round, detail):
            return "self-test \(check) wrong on rank \(rank) in round \(round): \(detail)"
        case let .injectedFailure(rank, round):
            return "rank \(rank) failed on purpose in round \(round) (--fail-rank)"
        }
    }
}

/// Checks every collective (and `allGatherAndRestore`) of a communicator against values each rank
/// can predict. Sizes, roots and payloads change every round while buffers are reused, so stale
/// data from an earlier round is caught. Runs the same on MPI ranks and on an `InProcessGroup`.
public enum CommunicatorSelfTest {
    public struct Summary: Sendable, Equatable {
        public var rounds = 0
        public var collectives = 0
    }

    /// `failRank` throws `injectedFailure` at the start of round 1 (to test that a failing rank
    /// ends the job instead of hanging it).
    public static func run(on comm: Communicator, rounds: Int, failRank: Int? = nil) throws -> Summary {
        var summary = Summary()
        var floats = [Float](repeating: 0, count: 4096), received = [Float](repeating: 0, count: 4096 * 8)
        var scratch = [Float](repeating: 0, count: 1 << 16), restored = [Float](repeating: 0, count: 1 << 16)
        for round in 0..<rounds {
            if round == 1, failRank == comm.rank { throw CommunicatorSelfTestError.injectedFailure(rank: comm.rank, round: round) }
            let (p, r) = (comm.size, comm.rank)
            func expect(_ ok: Bool, _ check: String, _ detail: @autoclosure () -> String) throws {
                if !ok { throw CommunicatorSelfTestError.mismatch(check: check, rank: r, round: round, detail: detail()) }
            }

            // allGather: equal counts (sometimes 0).
            let n = (round * 7) % 13
            for j in 0..<n { floats[j] = value(round, r, j) }
            received.withUnsafeMutableBufferPointer { $0.initialize(repeating: .nan) }
            try floats.withUnsafeBufferPointer { send in
                try received.withUnsafeMutableBufferPointer { recv in
                    try comm.allGather(UnsafeBufferPointer(rebasing: send[0..<n]), into: UnsafeMutableBufferPointer(rebasing: recv[0..<p * n]))
                }
            }
            for q in 0..<p { for j in 0..<n where received[q * n + j] != value(round, q, j) {
                try expect(false, "allGather", "element \(j) from rank \(q) is \(received[q * n + j]), expected \(value(round, q, j))")
            } }

            // allGatherV: counts differ per rank (some 0).
            let counts = (0..<p).map { (round + 3 * $0) % 5 }
            for j in 0..<counts[r] { floats[j] = value(round + 1, r, j) }
            received.withUnsafeMutableBufferPointer { $0.initialize(repeating: .nan) }
            let total = counts.reduce(0, +)
            try floats.withUnsafeBufferPointer { send in
                try received.withUnsafeMutableBufferPointer { recv in
                    try comm.allGatherV(UnsafeBufferPointer(rebasing: send[0..<counts[r]]), counts: counts,
                                        into: UnsafeMutableBufferPointer(rebasing: recv[0..<total]))
                }
            }
            var offset = 0
            for q in 0..<p {
                for j in 0..<counts[q] where received[offset + j] != value(round + 1, q, j) {
                    try expect(false, "allGatherV", "element \(j) from rank \(q) is \(received[offset + j]), expected \(value(round + 1, q, j))")
                }
                offset += counts[q]
            }

            // broadcast of a fixed-size raw buffer from a rotating root.
            let root = round % p
            var bytes = [UInt8](repeating: 0xEE, count: 37 + round % 5)
            if r == root { for j in bytes.indices { bytes[j] = byte(round, j) } }
            try bytes.withUnsafeMutableBytes { try comm.broadcast($0, root: root) }
            try expect(bytes.indices.allSatisfy { bytes[$0] == byte(round, $0) }, "broadcast", "bytes differ from root \(root)'s")

            // broadcastBytes: variable size (sometimes empty).
            let messageRoot = (round + 1) % p
            let message = (0..<(round % 11)).map { byte(round + 2, $0) }
            let got = try comm.broadcastBytes(r == messageRoot ? message : nil, root: messageRoot)
            try expect(got == message, "broadcastBytes", "got \(got.count) bytes, expected \(message.count) from root \(messageRoot)")

            // gatherBytes: each rank's own message at a rotating root.
            let gatherRoot = (round + 2) % p
            let mine = (0..<(r + round % 3)).map { byte(round + r, $0) }
            let gathered = try comm.gatherBytes(mine, root: gatherRoot)
            if r == gatherRoot {
                try expect(gathered.count == p, "gatherBytes", "root got \(gathered.count) messages, expected \(p)")
                for q in 0..<p {
                    let want = (0..<(q + round % 3)).map { byte(round + q, $0) }
                    try expect(gathered[q] == want, "gatherBytes", "message of rank \(q) differs")
                }
            } else {
                try expect(gathered.isEmpty, "gatherBytes", "non-root got \(gathered.count) messages, expected none")
            }

            // allReduceMax: the maximum sits on a rotating rank.
            let mx = try comm.allReduceMax(Double(round) + (r == round % p ? 0.5 : -Double(r)))
            try expect(mx == Double(round) + 0.5, "allReduceMax", "got \(mx), expected \(Double(round) + 0.5)")

            try comm.barrier()

            // allGatherAndRestore over a batch whose lengths change every round.
            try checkRestore(comm, round: round, scratch: &scratch, restored: &restored, expect: expect)
            summary.collectives += 8
            summary.rounds += 1
        }
        return summary
    }

    /// Rows carry (request, position, column) so the restore can be checked exactly; pads are NaN.
    private static func checkRestore(_ comm: Communicator, round: Int, scratch: inout [Float], restored: inout [Float],
                                     expect: (Bool, String, @autoclosure () -> String) throws -> Void) throws {
        let p = comm.size, width = 1 + round % 4
        var seed = UInt64(round) &* 6364136223846793005 &+ 1442695040888963407
        let lengths = (0..<(1 + round % 3)).map { _ -> Int in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return 1 + Int((seed >> 33) % 40)
        }
        let plan = ShardPlan(lengths: lengths, ranks: p)
        var local = [Float](repeating: .nan, count: plan.rowsPerRank * width)
        for (i, _) in lengths.enumerated() {
            for j in 0..<2 * plan.chunkSizes[i] where !plan.isPad(request: i, localRow: j, rank: comm.rank) {
                let t = plan.globalPosition(request: i, localRow: j, rank: comm.rank)
                for col in 0..<width { local[(plan.localRowOffset(request: i) + j) * width + col] = rowValue(round, i, t, col) }
            }
        }
        restored.withUnsafeMutableBufferPointer { $0.initialize(repeating: .infinity) }
        try local.withUnsafeBufferPointer { local in
            try scratch.withUnsafeMutableBufferPointer { scratch in
                try restored.withUnsafeMutableBufferPointer { out in
                    try allGatherAndRestore(local: local, rowWidth: width, plan: plan, communicator: comm,
                                            gatherScratch: scratch, into: out)
                }
            }
        }
        var k = 0
        for (i, n) in lengths.enumerated() {
            for t in 0..<n {
                for col in 0..<width where restored[k * width + col] != rowValue(round, i, t, col) {
                    try expect(false, "allGatherAndRestore",
                               "request \(i) position \(t) column \(col) is \(restored[k * width + col]), expected \(rowValue(round, i, t, col))")
                }
                k += 1
            }
        }
        try expect(restored[k * width] == .infinity, "allGatherAndRestore", "wrote past Σ n_i rows")
    }

    private static func value(_ round: Int, _ rank: Int, _ j: Int) -> Float {
        Float((round * 131 + rank * 1009 + j * 7) % 65_521)
    }

    private static func rowValue(_ round: Int, _ request: Int, _ position: Int, _ column: Int) -> Float {
        Float((round * 977 + request * 10_007 + position * 13 + column) % 1_000_003)
    }

    private static func byte(_ seed: Int, _ j: Int) -> UInt8 { UInt8(truncatingIfNeeded: seed &* 31 &+ j &* 7 &+ 1) }
}
