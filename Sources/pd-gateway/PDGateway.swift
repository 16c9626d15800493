import ArgumentParser
import Basics
import Foundation
import Gateway
import Logging
import Transport

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

    @Option(help: "How tool calls are read off the output of chat completions with tools (vLLM's names: \(ToolCallFormat.Name.allCases.map(\.rawValue).joined(separator: ", "))); without it, requests with tools get a 400.")
    var toolCallParser: String?

    @Option(help: "How chat messages get reasoning_content apart from content (vLLM's name: deepseek_r1): the text between <think> and </think>.")
    var reasoningParser: String?

    @Flag(help: "Accepted for vLLM's command lines: --tool-call-parser alone enables tool_choice auto.")
    var enableAutoToolChoice = false

    @Option(help: "Requests in flight beyond which the gateway answers 429.")
    var maxRequests: Int = 512

    @Flag(help: "Usage reports prompt_tokens_details.cached_tokens: the prompt tokens the prefill took from its prefix cache.")
    var enablePromptTokensDetails = false

    @Option(help: "Event loops serving HTTP and running the handlers (one hands each token to its socket with the fewest thread hops; raise it when one core cannot keep up with HTTP and tokenizing).")
    var eventLoops: Int = 1

    @Option(help: "File holding the API key: every route but /health, /metrics and /version needs 'Authorization: Bearer <key>' (401 otherwise).")
    var apiKeyFile: String?

    @Option(help: "HTTPS: this server's PEM certificate chain (with --tls-key; default: plain HTTP).")
    var tlsCert: String?

    @Option(help: "HTTPS: the PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "TLS to decode: PEM CA the decode daemons' certificates must chain to (default: plaintext).")
    var decodeTlsCa: String?

    @Option(help: "Mutual TLS to decode: this gateway's PEM client certificate chain (with --decode-tls-key).")
    var decodeTlsCert: String?

    @Option(help: "Mutual TLS to decode: the PEM private key of --decode-tls-cert.")
    var decodeTlsKey: String?

    @Option(help: "File holding the shared token, sent to the decode daemons as 'authorization: Bearer <token>' on every call.")
    var authTokenFile: String?

    @Option(help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        MallocArenas.limit(to: 4)
        guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops must be in 1...256") }
        GatewayEventLoops.install(count: eventLoops)
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
        options.promptTokensDetails = enablePromptTokensDetails
        if let toolCallParser {
            guard let parser = ToolCallFormat.Name(rawValue: toolCallParser) else {
                throw ValidationError("--tool-call-parser: one of \(ToolCallFormat.Name.allCases.map(\.rawValue).joined(separator: ", ")), got \(toolCallParser)")
            }
            options.toolCallParser = parser
        }
        if let reasoningParser {
            guard let parser = ReasoningFormat.Name(rawValue: reasoningParser) else {
                throw ValidationError("--reasoning-parser: one of \(ReasoningFormat.Name.allCases.map(\.rawValue).joined(separator: ", ")), got \(reasoningParser)")
            }
            options.reasoningParser = parser
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        options.httpsCertificateFile = tlsCert; options.httpsKeyFile = tlsKey
        do {
            options.decodeSecurity = try ClientSecurity.load(prefix: "--decode-tls", caFile: decodeTlsCa, certFile: decodeTlsCert,
                                                             keyFile: decodeTlsKey, tokenFile: authTokenFile)
            options.apiKey = try apiKeyFile.map { try AuthToken.load(file: $0, option: "--api-key-file") }
        } catch let error as SecurityOptionError { throw ValidationError(error.description) }
        let server: GatewayServer
        do { server = try GatewayServer(model: model, options: options) } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
        if tlsCert == nil, let warning = ListenAddress.plaintextWarning(host: options.host, port: options.port, what: "HTTP API",
                                                                         remedy: "give --tls-cert/--tls-key (and --api-key-file) or put a TLS terminator in front") {
            logger.warning("\(warning)")
        }
        let scheme = tlsCert == nil ? "http" : "https"
        logger.info("serving \(server.served.name) on \(scheme)://\(options.host):\(options.port) → decode \(options.decodeTargets.joined(separator: ","))",
                    metadata: ["api_key": "\(apiKeyFile == nil ? "none" : "required")"])
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

