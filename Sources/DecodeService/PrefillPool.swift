import Foundation
import Logging
import Transport
import Wire

/// The prefill daemons a decode daemon calls, and which of them are ready: a prober thread asks
/// each one's `Info` every `probeInterval` seconds (which also checks it serves our model), and a
/// request that finds one unreachable marks it down at once. Each request goes to the ready one
/// where it costs least: the prompt tokens this decode has in flight there (its queue as we filled
/// it) plus the prompt's own, less the leading tokens it likely finds in that prefill's prefix cache
/// (those of its 64-token blocks this decode sent there before: SGLang's cache-aware routing, as a
/// cost); ties in turn. So a slow or busy prefill gets less, and a conversation's next turn goes
/// where its earlier turns are cached unless that prefill is busier by more than they save.
/// `onReadiness` hears whether at least one is ready,
/// so the decode daemon's health says NOT_SERVING while no prefill can take work (readiness, not
/// liveness).
final class PrefillPool: @unchecked Sendable {
    private final class Member {
        let channel: TransportChannel
        var ready = false
        var problem: String?              // why it is not ready, logged when it changes
        var tokensInFlight = 0            // prompt tokens of our Prefill calls still running there
        var sentBlocks = PrefixBlocks.Recent()   // leading blocks of prompts sent there
        init(channel: TransportChannel) { self.channel = channel }
    }

    private let members: [Member]
    private let fingerprint: String
    private let logger: Logger
    private let probeInterval: Double
    private let onReadiness: (Bool) -> Void
    private let condition = NSCondition()
    private var rotation = 0
    private var running = false
    private var prober: Thread?
    private var anyReady = false

    /// `security`: one TLS setup and token for every prefill daemon, the probes' `Info` calls included.
    init(targets: [String], security: ClientSecurity = .plaintext, fingerprint: String, logger: Logger, probeInterval: Double = 2,
         onReadiness: @escaping (Bool) -> Void) {
        members = targets.map { Member(channel: TransportChannel(target: $0, maxMessageBytes: 64 << 20, security: security)) }
        self.fingerprint = fingerprint
        self.logger = logger
        self.probeInterval = probeInterval
        self.onReadiness = onReadiness
    }

    /// Probes every member once (this also opens the connections), then keeps probing in the background.
    func start() {
        probeAll()
        condition.lock()
        running = true
        let thread = Thread { [unowned self] in self.probeLoop() }
        thread.name = "prefill-prober"
        prober = thread
        condition.unlock()
        thread.start()
    }

    func stop() {
        condition.lock()
        running = false
        condition.broadcast()
        while prober != nil { condition.wait() }
        condition.unlock()
        for m in members { m.channel.close() }
    }

    /// The ready member where `prompt` costs least (above; ties in turn), its tokens counted there
    /// until `release`; with none ready, the same choice among all (the call then fails fast with
    /// UNAVAILABLE, or succeeds if the daemon just came back).
    func acquire(prompt: [UInt32], salt: String = "") -> TransportChannel {
        let blocks = PrefixBlocks.keys(prompt, salt: salt)
        condition.lock(); defer { condition.unlock() }
        let ready = members.filter(\.ready)
        let pool = ready.isEmpty ? members : ready
        rotation &+= 1
        let costs = pool.map { $0.tokensInFlight + prompt.count - $0.sentBlocks.leadingMatches(blocks) * PrefixBlocks.tokens }
        let least = costs.min()!
        let candidates = pool.indices.filter { costs[$0] == least }
        let chosen = pool[candidates[rotation % candidates.count]]
        chosen.tokensInFlight += prompt.count
        chosen.sentBlocks.insert(blocks)
        return chosen.channel
    }

    /// The call `acquire` gave `channel` for has ended.
    func release(_ channel: TransportChannel, tokens: Int) {
        condition.lock(); defer { condition.unlock() }
        members.first { $0.channel === channel }?.tokensInFlight -= tokens
    }

    /// A call could not reach `channel`'s daemon: not ready until a probe says otherwise.
    func markUnreachable(_ channel: TransportChannel, reason: String) {
        update(channel, ready: false, problem: "unreachable: \(reason)")
    }

    private func probeLoop() {
        condition.lock()
        while running {
            _ = condition.wait(until: Date(timeIntervalSinceNow: probeInterval))
            if !running { break }
            condition.unlock()
            probeAll()
            condition.lock()
        }
        prober = nil
        condition.broadcast()
        condition.unlock()
    }

    private func probeAll() {
        for m in members {
            do {
                let info = try m.channel.unary(method: MethodPath.info, request: InfoRequest(), response: InfoResponse.self,
                                               deadline: .after(seconds: 1))
                if info.modelFingerprint == fingerprint {
                    update(m.channel, ready: true, problem: nil, ranks: Int(info.ranks))
                } else {
                    update(m.channel, ready: false,
                           problem: "serves another model: fingerprint \(info.modelFingerprint), ours \(fingerprint)")
                }
            } catch {
                update(m.channel, ready: false, problem: "not reachable: \(error)")
            }
        }
    }

    private func update(_ channel: TransportChannel, ready: Bool, problem: String?, ranks: Int? = nil) {
        condition.lock()
        guard let m = members.first(where: { $0.channel === channel }) else { condition.unlock(); return }
        let changed = m.ready != ready || m.problem != problem
        m.ready = ready
        m.problem = problem
        let nowAny = members.contains(where: \.ready)
        let readinessChanged = nowAny != anyReady
        anyReady = nowAny
        condition.unlock()
        if changed {
            if ready {
                logger.info("prefill \(channel.target) ready", metadata: ranks.map { ["ranks": "\($0)"] } ?? [:])
            } else if let problem {
                if problem.hasPrefix("serves another model") {
                    logger.error("prefill \(channel.target) \(problem)")
                } else {
                    logger.warning("prefill \(channel.target) \(problem)")
                }
            }
        }
        if readinessChanged { onReadiness(nowAny) }
    }
}
