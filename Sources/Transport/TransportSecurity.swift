import Foundation

/// TLS material of a gRPC server (PEM text): its certificate chain and private key, and with
/// `clientCA` mutual TLS: every client must present a certificate that chains to it.
public struct ServerTLS: Sendable {
    public var certificateChain: String
    public var privateKey: String
    public var clientCA: String?

    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCA = clientCA
    }
}

/// TLS material of a gRPC client (PEM text): the CA the server's certificate must chain to, and
/// under mutual TLS the client's own certificate chain and key.
public struct ClientTLS: Sendable {
    public var trustedCA: String
    public var certificateChain: String?
    public var privateKey: String?

    public init(trustedCA: String, certificateChain: String? = nil, privateKey: String? = nil) {
        self.trustedCA = trustedCA
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

/// What a server asks of its callers: TLS (nil = plaintext) and a shared token (nil = none).
public struct ServerSecurity: Sendable {
    public var tls: ServerTLS?
    public var token: AuthToken?

    public init(tls: ServerTLS? = nil, token: AuthToken? = nil) {
        self.tls = tls
        self.token = token
    }

    public static let plaintext = ServerSecurity()

    /// For the start-up log line: "plaintext", "tls" or "mutual tls", then "+ token" when one is required.
    public var summary: String {
        let transport = tls == nil ? "plaintext" : tls?.clientCA == nil ? "tls" : "mutual tls"
        return token == nil ? transport : transport + " + token"
    }

    /// From the files a daemon's command line names (`--tls-cert`, `--tls-key`, `--tls-client-ca`,
    /// `--auth-token-file`); nil paths are options not given.
    public static func load(certFile: String?, keyFile: String?, clientCAFile: String?, tokenFile: String?) throws -> ServerSecurity {
        var security = ServerSecurity(token: try tokenFile.map { try AuthToken.load(file: $0, option: "--auth-token-file") })
        switch (certFile, keyFile) {
        case let (cert?, key?):
            security.tls = ServerTLS(certificateChain: try PEMFile.read(cert, option: "--tls-cert"),
                                     privateKey: try PEMFile.read(key, option: "--tls-key"),
                                     clientCA: try clientCAFile.map { try PEMFile.read($0, option: "--tls-client-ca") })
        case (nil, nil):
            if clientCAFile != nil { throw SecurityOptionError.needs("--tls-client-ca", "--tls-cert and --tls-key") }
        case (_?, nil): throw SecurityOptionError.needs("--tls-cert", "--tls-key")
        case (nil, _?): throw SecurityOptionError.needs("--tls-key", "--tls-cert")
        }
        return security
    }
}

/// How a client reaches its servers: TLS (nil = plaintext) and the token it sends (nil = none).
public struct ClientSecurity: Sendable {
    public var tls: ClientTLS?
    public var token: AuthToken?

    public init(tls: ClientTLS? = nil, token: AuthToken? = nil) {
        self.tls = tls
        self.token = token
    }

    public static let plaintext = ClientSecurity()

    /// From the files a client's command line names: `\(prefix)-ca`, `\(prefix)-cert`,
    /// `\(prefix)-key` (prefix "--tls", "--prefill-tls", "--decode-tls") and `--auth-token-file`.
    public static func load(prefix: String, caFile: String?, certFile: String?, keyFile: String?,
                            tokenFile: String?) throws -> ClientSecurity {
        var security = ClientSecurity(token: try tokenFile.map { try AuthToken.load(file: $0, option: "--auth-token-file") })
        if certFile != nil && keyFile == nil { throw SecurityOptionError.needs("\(prefix)-cert", "\(prefix)-key") }
        if keyFile != nil && certFile == nil { throw SecurityOptionError.needs("\(prefix)-key", "\(prefix)-cert") }
        guard let caFile else {
            if certFile != nil { throw SecurityOptionError.needs("\(prefix)-cert", "\(prefix)-ca") }
            return security
        }
        security.tls = ClientTLS(trustedCA: try PEMFile.read(caFile, option: "\(prefix)-ca"),
                                 certificateChain: try certFile.map { try PEMFile.read($0, option: "\(prefix)-cert") },
                                 privateKey: try keyFile.map { try PEMFile.read($0, option: "\(prefix)-key") })
        return security
    }
}

/// A PEM file's text, refused early (with the option's name) when unreadable or not PEM, instead
/// of a handshake that fails later with a vaguer message.
enum PEMFile {
    static func read(_ path: String, option: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw SecurityOptionError.unreadable(option, path) }
        let text = String(decoding: data, as: UTF8.self)
        guard text.contains("-----BEGIN ") else { throw SecurityOptionError.notPEM(option, path) }
        return text
    }
}

/// A command line's security options that cannot work.
public enum SecurityOptionError: Error, Equatable, CustomStringConvertible {
    case needs(String, String)
    case unreadable(String, String)
    case notPEM(String, String)
    case badToken(String, String, String)

    public var description: String {
        switch self {
        case let .needs(option, other): return "\(option) needs \(other)"
        case let .unreadable(option, path): return "\(option): cannot read \(path)"
        case let .notPEM(option, path): return "\(option): \(path) is not a PEM file (no -----BEGIN line)"
        case let .badToken(option, path, why): return "\(option): \(path) \(why)"
        }
    }
}

/// Where a server listens, as far as security goes.
public enum ListenAddress {
    /// 127.0.0.0/8, ::1 and localhost: only this host can connect.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The one warning line a daemon logs at start when it serves plaintext beyond this host; nil otherwise.
    public static func plaintextWarning(host: String, port: Int, what: String, remedy: String) -> String? {
        guard !isLoopback(host) else { return nil }
        return "\(what) on \(host):\(port) is plaintext and reachable from other hosts: anyone on the network can read and send calls; \(remedy)"
    }
}
