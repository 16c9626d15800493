import ArgumentParser
import Basics
import DecodeService
import DeepSeekModel
import Engine
import Foundation
import KVCache
import Kernels
import ServiceSupport
import Transport
import WeightOptions
import Wire

/// The decode node daemon: `pd-decode --model M --listen 127.0.0.1:PORT --prefill HOST:PORT[,...]`.
@main
struct PDDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-decode",
        abstract: "Decode daemon: paged latent KV cache, continuous batching, token streaming; prefill delegated over gRPC.")

    @Option(help: "Model folder (HF format) or built-in name: \(BuiltinModel.names).")
    var model: String = "tiny"

    @OptionGroup var weights: WeightOptions

    @Option(help: "Address to serve Generate on (host:port).")
    var listen: String = "127.0.0.1:50051"

    @Option(help: "Prefill daemons, comma-separated host:port list.")
    var prefill: String

    @Option(help: "KV cache pages (default \(DecodeOptions().kvPages); or size the cache with --kv-cache-bytes).")
    var kvPages: Int?

    @Option(help: "KV cache size in bytes (all layers): as many pages as fit, so a bf16 cache holds twice the pages of an f32 one.")
    var kvCacheBytes: Int?

    @Option(help: "How the KV cache holds latent rows: f32 or bf16 (half the bytes; rows rounded to nearest-even as the bf16 wire rounds them).")
    var kvDtype: LatentDType = .f32

    @Option(help: "Tokens per KV page.")
    var pageSize: Int = 16

    @Option(help: "Sequences per decode step at most.")
    var maxBatch: Int = 32

    @Option(help: ArgumentHelp("N-gram speculative decoding as vLLM's, e.g. '{\"method\": \"ngram\", \"num_speculative_tokens\": 4, \"prompt_lookup_max\": 4, \"prompt_lookup_min\": 2}': drafts from the sequence's own earlier tokens, verified in the same step; the same tokens as without it.", valueName: "json"))
    var speculativeConfig: String?

    @Option(help: "Who gets KV pages first and who is preempted when they run out: fcfs (arrival order) or priority (each request's priority, lower first, then arrival; vLLM's).")
    var schedulingPolicy: SchedulingPolicy = .fcfs

    @Option(help: "Deadline of each Prefill call, seconds.")
    var prefillTimeout: Double = 120

    @Option(help: "KV dtype on the wire: f32 or bf16.")
    var wireDtype: String = "f32"

    @Option(help: "New requests that may wait (FIFO) for KV pages while the cache is full; more are refused with RESOURCE_EXHAUSTED. Requests preempted for pages wait first, beyond this bound.")
    var maxQueuedRequests: Int = DecodeOptions().maxQueuedRequests

    @Option(help: "Longest wait of a new request for KV pages, seconds (also bounded by its deadline; a preempted one waits on its deadline only).")
    var maxQueueSeconds: Double = DecodeOptions().maxQueueSeconds

    @Option(help: "gRPC calls served at once; more are refused with RESOURCE_EXHAUSTED.")
    var maxConcurrentCalls: Int = DecodeOptions().maxConcurrentCalls

    @OptionGroup var security: ServerSecurityFlags

    @Option(help: "TLS to prefill: PEM CA the prefill daemons' certificates must chain to (default: plaintext).")
    var prefillTlsCa: String?

    @Option(help: "Mutual TLS to prefill: this daemon's PEM client certificate chain (with --prefill-tls-key).")
    var prefillTlsCert: String?

    @Option(help: "Mutual TLS to prefill: the PEM private key of --prefill-tls-cert.")
    var prefillTlsKey: String?

    @Option(help: "Serve Prometheus text on http://HOST:PORT/metrics (default: no metrics server).")
    var metricsListen: String?

    @Option(help: "Compute threads: BLAS and kernel workers (default: $OPENBLAS_NUM_THREADS, else all cores).")
    var threads: Int?

    @Option(help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() throws {
        MallocArenas.limit(to: 4)
        let logger = DaemonLogging.logger(label: "pd-decode", level: logLevel)
        if let threads { BLAS.setThreads(threads) }
        let (host, port) = try HostPort.parse(listen, option: "--listen")
        var options = DecodeOptions()
        options.host = host; options.port = port
        options.prefillTargets = try CommaList.parse(prefill, option: "--prefill", expected: "host:port") { part in
            let (h, p) = try HostPort.parse(part, option: "--prefill")
            return "\(h):\(p)"
        }
        options.pageSize = pageSize; options.maxBatch = maxBatch; options.kvDType = kvDtype
        options.schedulingPolicy = schedulingPolicy
        if let speculativeConfig {
            do { options.speculation = try SpeculativeConfig(json: speculativeConfig) } catch {
                throw ValidationError("--speculative-config: \(error.detail)")
            }
        }
        options.prefillTimeoutSeconds = prefillTimeout
        options.maxConcurrentCalls = maxConcurrentCalls
        guard maxQueuedRequests >= 0, maxQueueSeconds >= 0 else {
            throw ValidationError("--max-queued-requests and --max-queue-seconds must be ≥ 0")
        }
        options.maxQueuedRequests = maxQueuedRequests; options.maxQueueSeconds = maxQueueSeconds
        options.serverSecurity = try security.load()
        do {
            options.prefillSecurity = try ClientSecurity.load(prefix: "--prefill-tls", caFile: prefillTlsCa, certFile: prefillTlsCert,
                                                              keyFile: prefillTlsKey, tokenFile: security.authTokenFile)
        } catch let error as SecurityOptionError { throw ValidationError(error.description) }
        if let metricsListen { options.metricsListen = try HostPort.parse(metricsListen, option: "--metrics-listen") }
        switch wireDtype.lowercased() {
        case "f32": options.wireDType = .f32
        case "bf16": options.wireDType = .bf16
        default: throw ValidationError("--wire-dtype: expected f32 or bf16, got '\(wireDtype)'")
        }
        if kvPages != nil && kvCacheBytes != nil { throw ValidationError("give --kv-pages or --kv-cache-bytes, not both") }
        let daemon: DecodeDaemon
        do {
            let transformer = try weights.loadModel(try BuiltinModel.resolve(model), ranksOnThisHost: 1)
            if let kvPages {
                options.kvPages = kvPages
            } else if let kvCacheBytes {
                let c = transformer.config
                options.kvPages = PagedLatentCache.pageCount(fittingBytes: kvCacheBytes, layers: c.numHiddenLayers, rowWidth: c.latentRowWidth,
                                                             pageSize: pageSize, dtype: kvDtype)
                guard options.kvPages >= 1 else {
                    throw ValidationError("--kv-cache-bytes \(kvCacheBytes) holds no page of \(pageSize) tokens (\(c.numHiddenLayers) layers × \(c.latentRowWidth) \(kvDtype) values each)")
                }
            }
            daemon = try DecodeDaemon(model: transformer, options: options, logger: logger)
            try daemon.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
        let stop = DispatchSemaphore(value: 0)
        let signals = TerminationSignal { sig in
            logger.info("signal \(sig): draining")
            stop.signal()
        }
        stop.wait()
        withExtendedLifetime(signals) { daemon.shutdown(gracePeriod: 10) }
    }
}

/// `--kv-dtype f32|bf16`.
extension LatentDType: ExpressibleByArgument {}

/// `--scheduling-policy fcfs|priority`.
extension SchedulingPolicy: ExpressibleByArgument {}
