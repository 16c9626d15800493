import Foundation
import Transport
import Wire

/// The decode daemons behind the gateway and the choice among them: among healthy ones, the least
/// outstanding work (ties: fewest requests in flight, then the order given).
public final class DecodePool: @unchecked Sendable {
    let instances: [DecodeInstance]
    private let statsInterval: Double

    /// `security`: one TLS setup and token for every decode daemon, health Watch and Stats included.
    public init(targets: [String], security: ClientSecurity = .plaintext, statsInterval: Double = 1) {
        instances = targets.map { DecodeInstance(target: $0, security: security) }
        self.statsInterval = statsInterval
    }

    /// Starts the health watchers and the Stats poller (threads: the transport is blocking).
    public func start() {
        for instance in instances {
            instance.refreshStats()
            let watcher = Thread { instance.watchHealth() }
            watcher.name = "health-\(instance.target)"
            watcher.start()
        }
        let poller = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: statsInterval)
                for instance in instances { instance.refreshStats() }
            }
        }
        poller.name = "decode-stats"
        poller.start()
    }

    public var healthyCount: Int { instances.filter(\.isHealthy).count }

    /// The instance to send the next request to, or nil when none is healthy.
    func pick(excluding: Set<String> = []) -> DecodeInstance? {
        var best: (instance: DecodeInstance, load: Int, inFlight: Int)?
        for instance in instances where instance.isHealthy && !excluding.contains(instance.target) {
            let (load, inFlight) = (instance.load, instance.requestsInFlight)
            if best == nil || load < best!.load || (load == best!.load && inFlight < best!.inFlight) {
                best = (instance, load, inFlight)
            }
        }
        return best?.instance
    }
}
