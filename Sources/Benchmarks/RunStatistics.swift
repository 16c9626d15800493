/// The median of run figures (the mean of the middle two for an even count; 0 for none): what the
/// benchmarks report, since single runs on this shared host spread by several percent.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Per round, `numerators[i] / denominators[i]` (0 where the denominator is not positive), for
/// pairs of configurations measured side by side in one round: the host's drift between rounds
/// cancels out of each ratio. Extra runs of the longer list are dropped.
func pairedRatios(_ numerators: [Double], _ denominators: [Double]) -> [Double] {
    zip(numerators, denominators).map { $1 > 0 ? $0 / $1 : 0 }
}

/// The median of the paired per-round ratios: how benchmarks compare two configurations.
func pairedRatio(_ numerators: [Double], _ denominators: [Double]) -> Double {
    median(pairedRatios(numerators, denominators))
}
