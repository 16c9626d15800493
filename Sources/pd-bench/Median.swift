/// The median of run figures (the mean of the middle two for an even count; 0 for none): what the
/// benchmarks report, since single runs on this shared host spread by several percent.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
