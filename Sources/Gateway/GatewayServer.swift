import ChatTemplate
import Foundation
import Hummingbird
import Logging
import NIOCore

/// pd-gateway's options.
public struct GatewayOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    public var decodeTargets: [String] = []
    /// Requests in flight beyond which the gateway answers 429.
    public var maxRequests = 512
    public var servedModelName: String?
    public init() {}
}

/// The OpenAI-compatible HTTP server in front of the decode daemons.
public final class GatewayServer: Sendable {
    public static let version = "0.1.0"
    public let served: ServedModel
    public let pool: DecodePool
    public let metrics: GatewayMetrics
    private let options: GatewayOptions
    private let started = Int(Date().timeIntervalSince1970)

    public init(model: String, options: GatewayOptions) throws {
        served = try ServedModel(model: model, servedName: options.servedModelName)
        pool = DecodePool(targets: options.decodeTargets)
        metrics = GatewayMetrics()
        self.options = options
    }

    /// Serves until SIGTERM / SIGINT, then stops accepting and lets requests in flight finish.
    public func run(logger: Logger) async throws {
        pool.start()
        let generation = GenerationEndpoint(served: served, pool: pool, metrics: metrics,
                                            admission: Admission(limit: options.maxRequests))
        let text = TextEndpoints(served: served)
        let router = Router(context: GatewayContext.self)
        router.post("/v1/completions") { request, context in
            await generation.respond(body: try await Self.body(request), kind: .completion, connection: context.connection)
        }
        router.post("/v1/chat/completions") { request, context in
            await generation.respond(body: try await Self.body(request), kind: .chat, connection: context.connection)
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
        let app = Application(router: router, server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionWatch()])),
                              configuration: .init(address: .hostname(options.host, port: options.port), serverName: "pd-gateway"),
                              logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    private var modelList: Value {
        .obj([("object", "list"), ("data", .array([.obj([
            ("id", .string(served.name)), ("object", "model"), ("created", .int(started)), ("owned_by", "latentserve"),
            ("root", .string(served.folder)), ("max_model_len", .int(served.contextLength)),
        ])]))])
    }

    private static func body(_ request: Request) async throws -> String {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 << 20)
        return String(buffer: buffer)
    }

    private static func answer(_ body: () async throws -> Value) async -> Response {
        do { return HTTP.json(try await body()) } catch {
            return HTTP.error(error as? APIError ?? APIError.invalid(nil, "\(error)"))
        }
    }
}
