import Foundation

/// What this process used so far, from the kernel.
enum ProcessResources {
    /// Peak resident set (getrusage ru_maxrss), bytes.
    static func maxResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// CPU seconds, all threads (CLOCK_PROCESS_CPUTIME_ID).
    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
