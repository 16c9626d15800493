import Wire

/// Failures of the gRPC transport, as callers see them.
public enum TransportError: Error, Equatable, CustomStringConvertible {
    /// A call ended with a non-OK status (from the peer, or locally: deadline, cancel, connection).
    case status(StatusCode, String)
    /// The server could not listen on the address.
    case bindFailed(address: String)
    /// The TLS server could not listen: the certificate or key is unusable, or the address is.
    case tlsBindFailed(address: String)
    /// A call could not be started (bad method path, channel closed, ...).
    case callFailed(method: String, detail: String)
    /// A server handler or channel used after shutdown, or registered twice.
    case invalidUse(String)

    public var description: String {
        switch self {
        case let .status(code, message): return "gRPC status \(code): \(message)"
        case let .bindFailed(address): return "gRPC server could not listen on \(address) (in use or not a local address?)"
        case let .tlsBindFailed(address):
            return "gRPC server could not listen on \(address) with TLS: --tls-cert / --tls-key are not a matching PEM certificate chain and private key"
                + " (or --tls-client-ca is not a PEM CA certificate), or the address is in use or not local"
        case let .callFailed(method, detail): return "gRPC call \(method) could not start: \(detail)"
        case let .invalidUse(detail): return "invalid transport use: \(detail)"
        }
    }

    /// How a handler ends a call whose caller is gone (`RequestContext.isCancelled`): DEADLINE_EXCEEDED
    /// once `deadline` has passed, CANCELLED otherwise. The client's own gRPC reports DEADLINE_EXCEEDED
    /// when its deadline timer fires; on a loaded host that timer can run late, and a CANCELLED from
    /// the server that arrives first would become the client's status (the soak saw one).
    /// `what` names the request and where it was ("request r-1 during prefill").
    public static func callerGone(_ what: String, deadline: Deadline) -> TransportError {
        deadline.hasPassed ? .status(.deadlineExceeded, "\(what): the client's deadline passed")
                           : .status(.cancelled, "\(what): cancelled by the client")
    }

    /// The status code a handler error is reported to the peer with.
    static func statusOf(_ error: Error) -> (StatusCode, String) {
        switch error {
        case let TransportError.status(code, message): return (code, message)
        case let wire as WireError: return (.invalidArgument, wire.description)
        default: return (.unknown, String(describing: error))
        }
    }
}
