import ArgumentParser
import Basics
import ClientKit
import DeepSeekModel
import Engine
import KVCache
import Foundation
import ModelText
import SamplingOptions
import ServiceSupport
import Transport
import Wire

@main
struct PDClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-client",
        abstract: "Talk to LatentServe daemons: health, generate (with load and verification), stats.",
        subcommands: [Health.self, Generate.self, Stats.self])
}

/// How every subcommand reaches the daemon: TLS and the shared token.
struct ConnectionSecurity: ParsableArguments {
    @Option(help: "TLS: PEM CA the daemon's certificate must chain to (default: plaintext).") var tlsCa: String?
    @Option(help: "Mutual TLS: this client's PEM certificate chain (with --tls-key).") var tlsCert: String?
    @Option(help: "Mutual TLS: the PEM private key of --tls-cert.") var tlsKey: String?
    @Option(help: "File holding the shared token, sent as 'authorization: Bearer <token>' on every call.") var authTokenFile: String?

    func load() throws -> ClientSecurity {
        do {
            return try ClientSecurity.load(prefix: "--tls", caFile: tlsCa, certFile: tlsCert, keyFile: tlsKey, tokenFile: authTokenFile)
        } catch let error as SecurityOptionError { throw ValidationError(error.description) }
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Exit 0 when the daemon answers SERVING (grpc.health.v1).")

    @Option(help: "Daemon address host:port.") var target: String
    @Option(help: "Service name to check (empty = the whole server).") var service: String = ""
    @Option(help: "Seconds to wait for an answer.") var timeout: Double = 5
    @OptionGroup var security: ConnectionSecurity

    func run() throws {
        _ = try HostPort.parse(target, option: "--target")
        let channel = TransportChannel(target: target, security: try security.load())
        do {
            let status = try channel.checkHealth(service: service, deadline: .after(seconds: timeout))
            print(status)
            guard status == .serving else { throw ExitCode.failure }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("pd-client health: \(target): \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the decode daemon's stats as JSON.")
    @Option(help: "Decode daemon host:port.") var target: String
    @OptionGroup var security: ConnectionSecurity

    func run() throws {
        _ = try HostPort.parse(target, option: "--target")
        let s = try DecodeClient(target: target, security: try security.load()).stats()
        let object: [String: Any] = [
            "active_requests": s.activeRequests, "free_kv_pages": s.freeKVPages, "total_kv_pages": s.totalKVPages,
            "page_size": s.pageSize,
            "recent": s.recent.map { r -> [String: Any] in
                var row: [String: Any] = ["request_id": r.requestId, "prompt_tokens": r.promptTokens, "generated_tokens": r.generatedTokens,
                                          "kv_bytes": r.kvBytes, "kv_transfer_seconds": r.kvTransferSeconds,
                                          "finish_reason": r.finishReason.description]
                if let id = r.stopTokenId { row["stop_reason"] = id }   // vLLM's stop_reason; absent for EOS
                return row
            },
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send Generate requests, stream tokens, report TTFT/TPOT/ITL/latency and KV transfer.")

    @Option(help: "Decode daemon host:port.") var decode: String
    @Option(help: "Prompt token ids, comma-separated.") var promptIds: String?
    @Option(help: "Instead of --prompt-ids: synthetic prompts of these lengths (ids < 256), used in turn.") var promptLengths: String?
    @Option(help: "Instead of --prompt-ids: prompt text, tokenized here with --model's tokenizer.") var prompt: String?
    @Option(help: "Instead of --prompt-ids: a JSON file of OpenAI-style messages, rendered with --model's chat template.") var messages: String?
    @Option(help: "A stop string (repeatable, needs --model's tokenizer): the request ends when its text contains one.") var stop: [String] = []
    @Option(help: "A choice the completion must be (repeatable, needs --model's tokenizer; vLLM's structured output choice).") var choice: [String] = []
    @Option(help: "Tokens to generate per request.") var maxNewTokens: Int = 16
    @Option(help: "Requests to send.") var numRequests: Int = 1
    @Option(help: "Requests in flight at once.") var concurrency: Int = 1
    @Option(help: "Prefix-cache salt (vLLM's cache_salt): prompts share the prefill's cached pages only under the same salt.") var cacheSalt: String = ""
    @Option(help: "vLLM's request priority: lower values get KV pages first and are preempted last (pd-decode --scheduling-policy priority; other decodes refuse a non-zero one).") var priority: Int32 = 0
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0
    @Option(help: "Top-k (0 = off).") var topK: Int = 0
    @Option(help: "Top-p (1 = off).") var topP: Float = 1
    @Option(help: "Min-p in [0, 1] (0 = off).") var minP: Float = 0
    @Option(help: "Seed (default: a random one; 0 is a seed like any other, as vLLM's and pd-run's).") var seed: UInt64?
    @Option(help: "Token ids that end a sequence (finish reason stop), comma-separated.") var stopTokenIds: String?
    @Flag(help: "Generate past the model's EOS token ids (which end generation otherwise).") var ignoreEos = false
    @Option(help: "Seconds before a request gives up.") var timeout: Double = 300
    @Option(help: "Cancel each request after this many tokens (tests cancellation).") var cancelAfterTokens: Int?
    @Flag(help: "One JSON object on stdout.") var json = false
    @Flag(help: "Check every token sequence against the reference generation (pd-run's code path) on --model: greedy, or seeded sampling with the same parameters.") var verify = false
    @Option(help: "Model folder or built-in name: its tokenizer and chat template for --prompt / --messages / --stop and the printed text; its weights for --verify.") var model: String?
    @Option(help: "The decode daemon's --kv-dtype (f32 or bf16), for --verify's reference: bf16 decodes over the prompt KV rounded as the daemon stores it.") var kvDtype: LatentDType = .f32
    @OptionGroup var processors: LogitsOptions
    @OptionGroup var security: ConnectionSecurity

    func validate() throws {
        guard [promptIds, promptLengths, prompt, messages].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --prompt-ids, --prompt-lengths, --prompt and --messages")
        }
        if (prompt != nil || messages != nil || !stop.isEmpty || !choice.isEmpty) && model == nil {
            throw ValidationError("--prompt, --messages, --stop and --choice need --model (its tokenizer and chat template)")
        }
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be ≥ 0") }
        guard numRequests >= 1, numRequests <= 10_000 else { throw ValidationError("--num-requests must be in 1...10000") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be ≥ 1") }
        if verify && model == nil { throw ValidationError("--verify needs --model") }
        if verify && temperature != 0 && seed == nil {
            throw ValidationError("--verify with --temperature > 0 needs a --seed (the reference draws from the same stream)")
        }
        if verify && cancelAfterTokens != nil { throw ValidationError("--verify and --cancel-after-tokens exclude each other") }
        if verify && !stop.isEmpty { throw ValidationError("--verify and --stop exclude each other (the client ends the stream itself)") }
    }

    func prompts(_ text: ModelText?) throws -> [[UInt32]] {
        if let prompt, let text {
            guard !prompt.isEmpty else { throw ValidationError("--prompt: the prompt is empty") }
            return [text.encode(prompt: prompt).map(UInt32.init)]
        }
        if let messages, let text {
            guard let data = FileManager.default.contents(atPath: messages) else { throw ValidationError("--messages: cannot read \(messages)") }
            return [try text.encode(chat: try ModelText.messages(json: String(decoding: data, as: UTF8.self))).ids.map(UInt32.init)]
        }
        if let promptIds {
            // Passed through as given (an empty list included): the daemon judges the request.
            return [try Self.tokenIds(promptIds, option: "--prompt-ids")]
        }
        let lengths: [Int] = try Self.usage { try CommaList.integers(promptLengths!, option: "--prompt-lengths", atLeast: 1, expected: "a length ≥ 1") }
        return lengths.enumerated().map { salt, n in (0..<n).map { UInt32(($0 * 7919 + salt * 104_729 + 13) % 256) } }
    }

    /// Comma-separated token ids.
    static func tokenIds(_ list: String, option: String) throws -> [UInt32] {
        try usage { try CommaList.integers(list, option: option, atLeast: 0, expected: "a token id") }
    }

    /// A bad list item is a usage error, like any other bad option.
    static func usage<T>(_ parse: () throws -> T) throws -> T {
        do { return try parse() } catch let error as CommaListError { throw ValidationError(error.description) }
    }

    /// What --verify's reference generation samples with: the request's own parameters.
    func referenceParams(maxNewTokens: Int, stops: [UInt32], choice: TokenAutomaton?) throws -> Engine.SamplingParams {
        var params = Engine.SamplingParams(temperature: temperature, topK: topK, topP: topP, seed: seed,
                                           stopTokenIDs: stops.map { Int($0) }, maxNewTokens: maxNewTokens, ignoreEOS: ignoreEos,
                                           minP: minP, choice: choice)
        try processors.apply(to: &params)
        return params
    }

    func run() throws {
        _ = try HostPort.parse(decode, option: "--decode")
        // The model's text side, when it has a tokenizer: prompts from text, completions as text.
        let folder = try model.map { try BuiltinModel.resolve($0) }
        let text = try folder.flatMap { f -> ModelText? in
            ModelText.isPresent(inFolder: f) ? try ModelText(folder: f) : nil
        }
        if text == nil && (prompt != nil || messages != nil || !stop.isEmpty || !choice.isEmpty) {
            throw ValidationError("--model \(model ?? "") has no tokenizer (tokenizer.json or tiktoken.model)")
        }
        let prompts = try prompts(text)
        let stops = try Self.tokenIds(stopTokenIds ?? "", option: "--stop-token-ids")
        let automaton = try choice.isEmpty ? nil
            : text!.choiceAutomaton(choice, vocabSize: try DeepSeekConfig.load(directory: folder!).vocabSize)
        let client = DecodeClient(target: decode, security: try security.load())
        // The values pass unchecked: the daemon judges them.
        let sampling = RequestAdmission.wire(try referenceParams(maxNewTokens: maxNewTokens, stops: stops, choice: automaton))
        let (maxNew, timeout, cancelAfter, stopStrings, salt, priority) = (maxNewTokens, self.timeout, cancelAfterTokens, stop, cacheSalt, priority)
        let (records, wall) = LoadRunner.run(count: numRequests, concurrency: concurrency) { i in
            let request = GenerateRequest(promptTokenIds: prompts[i % prompts.count], maxNewTokens: UInt32(maxNew), sampling: sampling,
                                          cacheSalt: salt, priority: priority)
            guard let text else { return client.generate(request, timeoutSeconds: timeout, cancelAfterTokens: cancelAfter) }
            var stream = TextStream(text, stopStrings: stopStrings)
            var completion = ""
            var record = client.generate(request, timeoutSeconds: timeout, cancelAfterTokens: cancelAfter, stopWhen: { tokens in
                for t in tokens where stream.stoppedBy == nil { completion += stream.append(Int(t.tokenId)) }
                return stream.stoppedBy
            })
            record.text = completion + stream.finish()
            return record
        }
        var verification: VerificationReport?
        if verify {
            let generator = Generator(model: try DeepSeekTransformer(directory: try BuiltinModel.resolve(model!)), kvDType: kvDtype)
            let params = try referenceParams(maxNewTokens: maxNew, stops: stops, choice: automaton)
            verification = try Verification.compare(records: records, prompts: prompts) { prompt in
                try generator.generate(prompts: [prompt.map { Int32($0) }], params: [params])![0].tokens
            }
        }
        let summary = LoadSummary(records: records, wallSeconds: wall)
        let verified = verification?.verified
        print(json ? try GenerateReport.json(records: records, summary: summary, verified: verified)
                   : GenerateReport.text(records: records, summary: summary, verified: verified))
        for m in verification?.mismatches ?? [] { FileHandle.standardError.write(Data("pd-client: verify mismatch: \(m)\n".utf8)) }
        for r in records { if let e = r.error { FileHandle.standardError.write(Data("pd-client: request failed: \(e)\n".utf8)) } }
        if summary.failed > 0 || verified == false { throw ExitCode.failure }
    }
}

/// `--kv-dtype f32|bf16`.
extension LatentDType: ExpressibleByArgument {}
