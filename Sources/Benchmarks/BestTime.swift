import Basics

/// Best-of-`repeats` seconds of `body` (after one untimed warm-up when `warmUp`).
func bestTime(repeats: Int, warmUp: Bool = true, _ body: () throws -> Void) rethrows -> Double {
    if warmUp { try body() }
    var best = Double.infinity
    for _ in 0..<max(repeats, 1) {
        let start = monotonicSeconds()
        try body()
        best = min(best, monotonicSeconds() - start)
    }
    return best
}
