import Basics
import Foundation
import Transport
import Wire

/// One decode daemon as the router sees it: its channel, readiness (grpc.health.v1 Watch pushes,
/// Stats polls) and outstanding work.
final class DecodeInstance: @unchecked Sendable {
    let target: String
    let channel: TransportChannel
    private let lock = NSLock()

    // Guarded by `lock`.
    private var watchedServing = false      // the daemon's own readiness (Health/Watch)
    private var reachable = false           // the last Stats call answered
    /// Prompt + max generated tokens of the requests this gateway has running there.
    private var outstandingTokens = 0
    private var inFlight = 0
    /// KV tokens reserved at the last Stats report (decode reserves prompt + max_new_tokens per
    /// request at admission, so this is every client's outstanding work), and our share then.
    private var reportedTokens = 0
    private var outstandingAtReport = 0

    init(target: String, security: ClientSecurity) {
        self.target = target
        channel = TransportChannel(target: target, security: security)
    }

    var isHealthy: Bool { lock.withLock { watchedServing && reachable } }

    /// Estimated outstanding tokens: the last report moved forward by our own changes since.
    var load: Int {
        lock.withLock { max(outstandingTokens, reportedTokens + outstandingTokens - outstandingAtReport) }
    }

    var requestsInFlight: Int { lock.withLock { inFlight } }

    func begin(tokens: Int) { lock.withLock { outstandingTokens += tokens; inFlight += 1 } }
    func end(tokens: Int) { lock.withLock { outstandingTokens -= tokens; inFlight -= 1 } }

    /// A call failed to reach it: out of the rotation until the next Stats answer.
    func markUnreachable() { lock.withLock { reachable = false } }

    /// What the daemon's Health/Watch said last.
    func recordWatched(serving: Bool) { lock.withLock { watchedServing = serving } }

    /// A Stats answer: reachable, with `usedTokens` KV tokens reserved (by every client) then.
    func recordStats(usedTokens: Int) {
        lock.withLock { reachable = true; reportedTokens = usedTokens; outstandingAtReport = outstandingTokens }
    }

    /// Follows Health/Watch for the life of the process; reconnects after a second on any failure.
    func watchHealth() {
        while true {
            do {
                let stream = try channel.watchHealth(deadline: .after(seconds: 300))
                while let bytes = try stream.next() {
                    let status = try bytes.withUnsafeBytes { try HealthCheckResponse(decoding: $0) }.status
                    recordWatched(serving: status == .serving)
                }
            } catch TransportError.status(.deadlineExceeded, _) {
                continue   // the watch's own deadline: watch again at once, the status stands
            } catch {
                recordWatched(serving: false)
            }
            Thread.sleep(forTimeInterval: 1)
        }
    }

    /// One Stats poll: reachability and the reserved KV tokens.
    func refreshStats() {
        do {
            let stats = try channel.unary(method: MethodPath.stats, request: StatsRequest(), response: StatsResponse.self,
                                          deadline: .after(seconds: 2))
            recordStats(usedTokens: Int(stats.totalKVPages - min(stats.freeKVPages, stats.totalKVPages)) * Int(stats.pageSize))
        } catch {
            markUnreachable()
        }
    }
}
