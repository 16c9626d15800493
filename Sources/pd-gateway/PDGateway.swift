import ArgumentParser
import Basics
import Foundation
import Gateway
import Logging

/// `pd-gateway --model M --listen 127.0.0.1:8000 --decode HOST:PORT[,HOST:PORT…]`: the OpenAI-compatible
/// HTTP front door (tokenizer and chat template only; no weights).
@main
struct PDGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-gateway",
        abstract: "OpenAI-compatible HTTP gateway in front of decode daemons: text in/out, load-aware routing, /metrics.")

    @Option(help: "Model folder (HF format: config.json + tokenizer) or built-in name: tiny, bench.")
    var model: String

    @Option(help: "Address to serve HTTP on (host:port).")
    var listen: String = "127.0.0.1:8000"

    @Option(help: "Decode daemons, comma-separated host:port list.")
    var decode: String

    @Option(help: "The model name clients send (default: --model as given).")
    var servedModelName: String?

    @Option(help: "Requests in flight beyond which the gateway answers 429.")
    var maxRequests: Int = 512

    @Option(help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "pd-gateway")
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
        logger.logLevel = level
        var options = GatewayOptions()
        (options.host, options.port) = try Self.hostPort(listen, option: "--listen")
        options.decodeTargets = try CommaList.parse(decode, option: "--decode", expected: "host:port") { item in
            let (host, port) = try Self.hostPort(item, option: "--decode")
            return "\(host):\(port)"
        }
        guard !options.decodeTargets.isEmpty else { throw ValidationError("--decode: at least one host:port") }
        guard maxRequests >= 1 else { throw ValidationError("--max-requests must be ≥ 1") }
        options.maxRequests = maxRequests
        options.servedModelName = servedModelName
        let server: GatewayServer
        do { server = try GatewayServer(model: model, options: options) } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
        logger.info("serving \(server.served.name) on http://\(options.host):\(options.port) → decode \(options.decodeTargets.joined(separator: ","))")
        try await server.run(logger: logger)
    }

    static func hostPort(_ text: String, option: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
              colon != text.startIndex else {
            throw ValidationError("\(option): expected host:port, got '\(text)'")
        }
        return (String(text[..<colon]), port)
    }
}

