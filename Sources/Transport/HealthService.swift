import Foundation
import Wire

/// The serving status a server reports per service name through grpc.health.v1.Health: readiness,
/// not liveness — the daemon sets NOT_SERVING while it cannot do its job (e.g. decode with no
/// prefill reachable). "" stands for the whole server. Watchers wake on every change.
public final class HealthStatusBoard: @unchecked Sendable {
    public typealias Status = HealthCheckResponse.ServingStatus

    private let condition = NSCondition()
    private var statuses: [String: Status]
    private var version = 0
    private var closed = false

    public init(services: [String], initial: Status = .serving) {
        statuses = Dictionary(uniqueKeysWithValues: Set(services + [""]).map { ($0, initial) })
    }

    /// Sets one service's status, or every service's (and the server's) when `service` is nil.
    public func set(_ status: Status, service: String? = nil) {
        condition.lock(); defer { condition.unlock() }
        if let service {
            guard statuses[service] != nil, statuses[service] != status else { return }
            statuses[service] = status
        } else {
            guard statuses.values.contains(where: { $0 != status }) else { return }
            for key in statuses.keys { statuses[key] = status }
        }
        version += 1
        condition.broadcast()
    }

    /// nil for a name this server does not serve.
    public func status(of service: String) -> Status? {
        condition.lock(); defer { condition.unlock() }
        return statuses[service]
    }

    /// Every watcher sends NOT_SERVING and ends (server shutdown).
    func close() {
        condition.lock(); defer { condition.unlock() }
        for key in statuses.keys { statuses[key] = .notServing }
        closed = true
        version += 1
        condition.broadcast()
    }

    /// The current (status, version, closed) of `service`, after waiting up to `seconds` for a
    /// version newer than `seen`.
    fileprivate func await(service: String, newerThan seen: Int, seconds: Double) -> (Status, Int, Bool) {
        condition.lock(); defer { condition.unlock() }
        if version == seen && !closed { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
        return (statuses[service] ?? .serviceUnknown, version, closed)
    }
}

extension TransportServer {
    /// Serves grpc.health.v1.Health (grpc_health_probe, grpcurl, the gateway's router):
    /// `Check` answers the board's status for "" and each name in `services`, NOT_FOUND for any other
    /// name; `Watch` streams the status now and on every change (SERVICE_UNKNOWN for an unknown name,
    /// as the protocol says), until the client leaves or the server shuts down.
    @discardableResult
    public func registerHealthService(services: [String], initial: HealthStatusBoard.Status = .serving) -> HealthStatusBoard {
        let board = HealthStatusBoard(services: services, initial: initial)
        attachHealthBoard(board)
        // Open without the token, as vLLM's /health is: orchestrators' probes (Kubernetes' gRPC
        // probe) cannot send metadata, and the answer is one status, nothing served. TLS still applies.
        exemptFromToken([MethodPath.healthCheck, MethodPath.healthWatch])
        registerUnary(MethodPath.healthCheck) { _, bytes in
            let request = try HealthCheckRequest(decoding: bytes)
            guard let status = board.status(of: request.service) else {
                throw TransportError.status(.notFound, "unknown service \"\(request.service)\"")
            }
            return HealthCheckResponse(status: status).encoded()
        }
        registerServerStreaming(MethodPath.healthWatch) { _, bytes, writer in
            let request = try HealthCheckRequest(decoding: bytes)
            var sent: HealthStatusBoard.Status?
            var seen = -1
            // Wakes at least every 0.2 s to notice a client that left.
            while !writer.isCancelled {
                let (status, version, closed) = board.await(service: request.service, newerThan: seen, seconds: 0.2)
                seen = version
                if status != sent {
                    try writer.send(HealthCheckResponse(status: status))
                    sent = status
                }
                if closed { return }
            }
        }
        return board
    }
}

extension TransportChannel {
    /// grpc.health.v1.Health/Check of `service` ("" = the whole server).
    public func checkHealth(service: String = "", deadline: Deadline = .after(seconds: 5)) throws
        -> HealthCheckResponse.ServingStatus {
        try unary(method: MethodPath.healthCheck, request: HealthCheckRequest(service: service),
                  response: HealthCheckResponse.self, deadline: deadline).status
    }

    /// grpc.health.v1.Health/Watch of `service`: each received message is one status change.
    public func watchHealth(service: String = "", deadline: Deadline) throws -> ResponseStream {
        try serverStreaming(method: MethodPath.healthWatch, request: HealthCheckRequest(service: service), deadline: deadline)
    }
}
