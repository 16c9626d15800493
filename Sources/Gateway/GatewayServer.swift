import ChatTemplate
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Transport

/// pd-gateway's options.
public struct GatewayOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    public var decodeTargets: [String] = []
    /// Requests in flight beyond which the gateway answers 429.
    public var maxRequests = 512
    public var servedModelName: String?
    /// How the gateway reaches its decode daemons (their CA, its client certificate, the token).
    public var decodeSecurity = ClientSecurity.plaintext
    /// `Authorization: Bearer` key required on the API routes (nil: open).
    public var apiKey: AuthToken?
    /// HTTPS: PEM certificate chain and key files (nil: plain HTTP).
    public var httpsCertificateFile: String?
    public var httpsKeyFile: String?
    /// vLLM's `--tool-call-parser`: how chat completions with `tools` read tool calls off the output.
    public var toolCallParser: ToolCallFormat.Name?
    /// vLLM's `--reasoning-parser`: chat messages get `reasoning_content` apart from `content`.
    public var reasoningParser: ReasoningFormat.Name?
    /// vLLM's `--enable-prompt-tokens-details`: usage reports prompt_tokens_details.cached_tokens.
    public var promptTokensDetails = false
    public init() {}
}

/// The OpenAI-compatible HTTP server in front of the decode daemons.
public final class GatewayServer: Sendable {
    public static let version = "0.1.0"
    public let served: ServedModel
    public let pool: DecodePool
    public let metrics: GatewayMetrics
    private let options: GatewayOptions
    /// HTTPS (swift-nio-ssl), nil for plain HTTP.
    private let https: TLSConfiguration?
    private let started = Int(Date().timeIntervalSince1970)

    public init(model: String, options: GatewayOptions) throws {
        served = try ServedModel(model: model, servedName: options.servedModelName, toolCallParser: options.toolCallParser,
                                 reasoningParser: options.reasoningParser)
        pool = DecodePool(targets: options.decodeTargets, security: options.decodeSecurity)
        metrics = GatewayMetrics()
        self.options = options
        https = try Self.httpsConfiguration(options)
    }

    /// Serves until SIGTERM / SIGINT, then stops accepting and lets requests in flight finish.
    public func run(logger: Logger) async throws {
        pool.start()
        let generation = GenerationEndpoint(served: served, pool: pool, metrics: metrics,
                                            admission: Admission(limit: options.maxRequests),
                                            promptTokensDetails: options.promptTokensDetails)
        let text = TextEndpoints(served: served)
        let router = Router(context: GatewayContext.self)
        if let key = options.apiKey { router.add(middleware: APIKeyMiddleware(key: key)) }
        router.post("/v1/completions") { request, context in
            try await Self.reading(request) { await generation.respond(body: $0, kind: .completion, connection: context.connection) }
        }
        router.post("/v1/chat/completions") { request, context in
            try await Self.reading(request) { await generation.respond(body: $0, kind: .chat, connection: context.connection) }
        }
        router.post("/tokenize") { request, _ in await Self.answer { try text.tokenize(body: try await Self.body(request)) } }
        router.post("/detokenize") { request, _ in await Self.answer { try text.detokenize(body: try await Self.body(request)) } }
        router.get("/v1/models") { [self] _, _ in HTTP.json(modelList) }
        router.get("/health") { [pool] _, _ -> Response in
            pool.healthyCount > 0 ? Response(status: .ok)
                : HTTP.error(.overloaded(status: 503, "no decode instance is ready"))
        }
        router.get("/version") { _, _ in HTTP.json(.obj([("version", .string(Self.version))])) }
        router.get("/metrics") { [metrics] _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        // Each connection's ConnectionWatch: how a handler learns that its client has gone.
        let channel = HTTP1Channel.Configuration(additionalChannelHandlers: [ConnectionWatch()])
        let configuration = ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "pd-gateway")
        if let tls = https {
            let app = Application(router: router, server: try .tls(.http1(configuration: channel), tlsConfiguration: tls), configuration: configuration,
                                  logger: logger)
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } else {
            let app = Application(router: router, server: .http1(configuration: channel), configuration: configuration, logger: logger)
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }

    /// The HTTPS server's TLS (swift-nio-ssl), nil for plain HTTP; unreadable files fail here, at start.
    private static func httpsConfiguration(_ options: GatewayOptions) throws -> TLSConfiguration? {
        guard let certFile = options.httpsCertificateFile, let keyFile = options.httpsKeyFile else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certFile)
            guard !chain.isEmpty else { throw GatewayTLSError(detail: "--tls-cert: \(certFile) holds no PEM certificate") }
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                           privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        } catch let error as GatewayTLSError { throw error } catch {
            throw GatewayTLSError(detail: "--tls-cert \(certFile) / --tls-key \(keyFile): \(error)")
        }
    }

    private var modelList: Value {
        .obj([("object", "list"), ("data", .array([.obj([
            ("id", .string(served.name)), ("object", "model"), ("created", .int(started)), ("owned_by", "latentserve"),
            ("root", .string(served.folder)), ("max_model_len", .int(served.contextLength)),
        ])]))])
    }

    /// The request body as text: at most 64 MiB (else Hummingbird's 413), valid UTF-8 or a 400 —
    /// never text with the bad bytes silently replaced.
    private static func body(_ request: Request) async throws -> String {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 << 20)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw APIError.invalid(nil, "the request body is not valid UTF-8")
        }
        return text
    }

    /// `handle` on the body, or the body's APIError as the response.
    private static func reading(_ request: Request, _ handle: (String) async -> Response) async throws -> Response {
        let text: String
        do { text = try await body(request) } catch let error as APIError { return HTTP.error(error) }
        return await handle(text)
    }

    private static func answer(_ body: () async throws -> Value) async -> Response {
        do { return HTTP.json(try await body()) } catch {
            return HTTP.error(error as? APIError ?? APIError.invalid(nil, "\(error)"))
        }
    }
}

/// HTTPS material the gateway cannot use.
public struct GatewayTLSError: Error, CustomStringConvertible {
    public let detail: String
    public var description: String { detail }
}
