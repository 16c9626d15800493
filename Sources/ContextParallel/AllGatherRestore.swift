/// Gathers `rowWidth`-float rows of every rank into a rank-major buffer and restores global order
/// with `plan.restoreMap`: exactly ONE allgather for the whole batch.
///
/// local: this rank's rows [rowsPerRank, rowWidth]; gatherScratch: ≥ [P·rowsPerRank, rowWidth]
/// (its prefix is overwritten); out: ≥ [Σ n_i, rowWidth], of which exactly the first Σ n_i rows
/// are written (request-major, position order, pads dropped). Every rank must call it, also one
/// whose rows are all pads.
public func allGatherAndRestore(local: UnsafeBufferPointer<Float>, rowWidth: Int, plan: ShardPlan,
                                communicator: Communicator,
                                gatherScratch: UnsafeMutableBufferPointer<Float>,
                                into out: UnsafeMutableBufferPointer<Float>) throws {
    guard communicator.size == plan.ranks else {
        throw CommunicatorError.sizeMismatch("shard plan for \(plan.ranks) ranks used with a communicator of \(communicator.size)")
    }
    guard rowWidth >= 1 else {
        throw CommunicatorError.sizeMismatch("allGatherAndRestore row width \(rowWidth), expected ≥ 1")
    }
    let localCount = plan.rowsPerRank * rowWidth
    let gatheredCount = plan.ranks * localCount
    let restoredCount = plan.totalLength * rowWidth
    guard local.count == localCount else {
        throw CommunicatorError.sizeMismatch(
            "allGatherAndRestore local holds \(local.count) floats, expected rowsPerRank \(plan.rowsPerRank) × \(rowWidth) = \(localCount)")
    }
    guard gatherScratch.count >= gatheredCount else {
        throw CommunicatorError.sizeMismatch(
            "allGatherAndRestore gather scratch holds \(gatherScratch.count) floats, expected ≥ \(plan.ranks) × \(localCount) = \(gatheredCount)")
    }
    guard out.count >= restoredCount else {
        throw CommunicatorError.sizeMismatch(
            "allGatherAndRestore out holds \(out.count) floats, expected ≥ Σ n_i \(plan.totalLength) × \(rowWidth) = \(restoredCount)")
    }
    let gathered = UnsafeMutableBufferPointer(rebasing: gatherScratch[0..<gatheredCount])
    try communicator.allGather(local, into: gathered)
    guard restoredCount > 0, let source = gathered.baseAddress, let target = out.baseAddress else { return }

    // Consecutive restored rows of one chunk are consecutive gathered rows: copy whole runs.
    plan.restoreMap.withUnsafeBufferPointer { map in
        var k = 0
        while k < map.count {
            var run = 1
            while k + run < map.count, map[k + run] == map[k] + Int32(run) { run += 1 }
            (target + k * rowWidth).update(from: source + Int(map[k]) * rowWidth, count: run * rowWidth)
            k += run
        }
    }
}
