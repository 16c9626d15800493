/// vLLM's `--scheduling-policy`: which waiting request gets KV pages first and which running one is
/// preempted when they run out. `fcfs`: arrival order (preempted requests first, the latest to join
/// preempted); `priority`: the request's `priority` first (lower values first, ties by arrival; the
/// highest value preempted first; the prefill daemons batch queued prompts by it too).
public enum SchedulingPolicy: String, CaseIterable, Sendable {
    case fcfs
    case priority

    /// The priority a request gets under this policy; a non-zero one under fcfs is refused (as vLLM does).
    func admit(priority: Int32) throws -> Int32 {
        guard self == .priority || priority == 0 else { throw SchedulingPolicyError.priorityWithoutPolicy(priority) }
        return priority
    }
}

enum SchedulingPolicyError: Error, CustomStringConvertible {
    case priorityWithoutPolicy(Int32)
    var description: String {
        switch self {
        case .priorityWithoutPolicy(let p):
            return "priority \(p) needs priority scheduling: start pd-decode with --scheduling-policy priority"
        }
    }
}
