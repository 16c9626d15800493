import ArgumentParser
import Transport

/// The flags with which pd-prefill and pd-decode serve TLS, mutual TLS and the shared token — one
/// declaration for both daemons (`@OptionGroup var security: ServerSecurityFlags`).
public struct ServerSecurityFlags: ParsableArguments {
    @Option(help: "TLS: this server's PEM certificate chain (with --tls-key; default: plaintext).")
    public var tlsCert: String?

    @Option(help: "TLS: the PEM private key of --tls-cert.")
    public var tlsKey: String?

    @Option(help: "Mutual TLS: PEM CA that every client's certificate must chain to (clients without one are refused).")
    public var tlsClientCa: String?

    @Option(help: "File holding the shared token: every call but health must carry 'authorization: Bearer <token>' (pd-decode also sends it to prefill).")
    public var authTokenFile: String?

    public init() {}

    /// The server's credentials and token; a combination that cannot work is a ValidationError.
    public func load() throws -> ServerSecurity {
        do {
            return try ServerSecurity.load(certFile: tlsCert, keyFile: tlsKey, clientCAFile: tlsClientCa, tokenFile: authTokenFile)
        } catch let error as SecurityOptionError { throw ValidationError(error.description) }
    }
}
