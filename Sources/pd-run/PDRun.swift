import ArgumentParser
import Basics
import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import Kernels
import KVCache
import ModelText
import SamplingOptions
import WeightOptions

/// Single-process (or `mpirun -np P`, PCP prefill) reference generation.
@main
struct PDRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pd-run",
        abstract: "Generate from a DeepSeek MLA model in one process, or with PCP prefill under mpirun.")

    @Option(help: "Model folder (HF format) or built-in name: \(BuiltinModel.names).")
    var model: String = "tiny"

    @OptionGroup var weights: WeightOptions

    @Option(help: "How decode's KV cache holds latent rows: f32 or bf16 (pd-decode --kv-dtype's numbers: the prompt is prefilled over f32, its rows rounded to bf16 for decode).")
    var kvDtype: LatentDType = .f32

    @Option(help: "Prompt token ids, comma-separated (e.g. 3,17,42).")
    var promptIds: String?

    @Option(help: "Prompt text, tokenized with the model's tokenizer (BOS as its post-processor / add_bos_token says).")
    var prompt: String?

    @Option(help: "A JSON file of OpenAI-style messages, rendered with the model's chat template (add_generation_prompt true).")
    var messages: String?

    @Option(help: "A stop string (repeatable): generation ends when the text contains it; the text stops before it.")
    var stop: [String] = []

    @Option(help: "Tokens to generate.")
    var maxNewTokens: Int = 16

    @Option(help: "Sampling temperature (omit for greedy).")
    var temperature: Float?

    @Option(help: "Top-k (0 = off).")
    var topK: Int = 0

    @Option(help: "Top-p (1 = off).")
    var topP: Float = 1

    @Option(help: "Min-p in [0, 1] (0 = off): tokens below min-p × the top token's probability are dropped.")
    var minP: Float = 0

    @Option(help: "A choice the completion must be (repeat for each; vLLM's structured output choice): any token path spelling one, then EOS.")
    var choice: [String] = []

    @Option(help: "Sampling seed.")
    var seed: UInt64?

    @Option(help: "Stop token ids, comma-separated.")
    var stopIds: String?

    @Flag(help: "Generate past the model's EOS token ids (eos_token_id), which end generation otherwise.")
    var ignoreEos = false

    @OptionGroup var processors: LogitsOptions

    @Option(help: "Prefill in chunks of this many tokens (chunked prefill).")
    var chunkTokens: Int?

    @Option(help: "Compute threads per rank: BLAS and kernel workers (default: $OPENBLAS_NUM_THREADS, else cores / ranks).")
    var threads: Int?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        let communicator: Communicator
        do {
            communicator = MPICommunicator.isUnderMPIRun ? try MPICommunicator.initialize() : SingleRankCommunicator()
        } catch {
            throw ValidationError("cannot start MPI: \(error)")
        }
        defer { (communicator as? MPICommunicator)?.finalize() }
        BLAS.setThreads(threads ?? ThreadDefaults.blasThreads(ranks: communicator.size))
        do {
            let request = try communicator.agreed { () -> (DeepSeekTransformer, [Int32], SamplingParams, PromptInput) in
                let folder = try BuiltinModel.resolve(model)
                let input = try PromptInput(promptIds: promptIds, prompt: prompt, messagesFile: messages, stops: stop, folder: folder)
                let prompt = input.ids
                var params = SamplingParams(temperature: temperature ?? 0, topK: topK, topP: topP, seed: seed,
                                            stopTokenIDs: try stopIds.map { try parseIDs($0, option: "--stop-ids").map(Int.init) } ?? [],
                                            maxNewTokens: maxNewTokens, ignoreEOS: ignoreEos, minP: minP)
                try processors.apply(to: &params)
                if let chunkTokens, chunkTokens < 1 { throw ValidationError("--chunk-tokens must be ≥ 1, got \(chunkTokens)") }
                let transformer = try weights.loadModel(folder, ranksOnThisHost: communicator.ranksOnThisHost)
                if !choice.isEmpty {
                    guard let text = input.modelText else { throw ValidationError("--choice needs the model's tokenizer") }
                    params.choice = try text.choiceAutomaton(choice, vocabSize: transformer.config.vocabSize)
                }
                try Admission.validate(prompt: prompt, params: params, config: transformer.config)
                _ = try Admission.grammar(for: params, model: transformer)
                return (transformer, prompt, params, input)
            }
            let generator = Generator(model: request.0, communicator: communicator, chunkTokens: chunkTokens, kvDType: kvDtype)
            let completion = request.3.completionStream(minTokens: request.2.minTokens)
            let textStop: ((Int) -> String?)? = completion.map { _ in { token in completion!.append(token) } }
            let outputs = try communicator.agreed {
                try generator.generate(prompts: [request.1], params: [request.2], textStops: [textStop])
            }
            guard let output = outputs?.first else { return }   // ranks > 0 are done after the prefill
            var report = RunReport(output: output, engine: generator.prefill, ranks: communicator.size, weights: request.0.weights,
                                   kvDType: generator.kvDType.rawValue)
            report.prompt_ids = request.1.map(Int.init)
            report.prompt_text = request.3.renderedChat
            report.text = completion?.finish()
            print(json ? try report.json() : report.readable())
        } catch let failure as RankFailures {
            if communicator.rank == 0 { FileHandle.standardError.write(Data("pd-run: \(failure)\n".utf8)) }
            throw ExitCode.failure
        } catch {
            FileHandle.standardError.write(Data("pd-run: rank \(communicator.rank): \(error)\n".utf8))
            (communicator as? MPICommunicator)?.abort(code: 1)
            throw ExitCode.failure
        }
    }
}

/// The prompt from exactly one of --prompt-ids, --prompt, --messages, and the completion's text
/// side (when the model folder has a tokenizer).
struct PromptInput {
    let ids: [Int32]
    let renderedChat: String?
    let modelText: ModelText?
    let stops: [String]

    init(promptIds: String?, prompt: String?, messagesFile: String?, stops: [String], folder: String) throws {
        let given = [promptIds != nil, prompt != nil, messagesFile != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one of --prompt-ids, --prompt, --messages") }
        self.stops = stops
        let text = ModelText.isPresent(inFolder: folder) ? try ModelText(folder: folder) : nil
        modelText = text
        if !stops.isEmpty && text == nil { throw ValidationError("--stop needs the model's tokenizer (tokenizer.json or tiktoken.model)") }
        if let promptIds {
            ids = try parseIDs(promptIds, option: "--prompt-ids")
            guard !ids.isEmpty else { throw ValidationError("--prompt-ids: at least one token id is required") }
            renderedChat = nil
        } else if let prompt {
            guard let text else { throw ValidationError("--prompt needs the model's tokenizer (tokenizer.json or tiktoken.model)") }
            guard !prompt.isEmpty else { throw ValidationError("--prompt: the prompt is empty") }
            ids = text.encode(prompt: prompt).map(Int32.init)
            renderedChat = nil
        } else {
            guard let text else { throw ValidationError("--messages needs the model's tokenizer (tokenizer.json or tiktoken.model)") }
            let path = messagesFile!
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--messages: cannot read \(path)") }
            let chat = try text.encode(chat: try ModelText.messages(json: String(decoding: data, as: UTF8.self)))
            ids = chat.ids.map(Int32.init)
            renderedChat = chat.text
        }
    }

    /// The completion's text stream (with the stop strings), or nil without a tokenizer.
    func completionStream(minTokens: Int) -> CompletionText? {
        modelText.map { CompletionText(TextStream($0, stopStrings: stops, minTokens: minTokens)) }
    }
}

/// The completion's text, built token by token while generating.
final class CompletionText {
    private var stream: TextStream
    private var text = ""
    init(_ stream: TextStream) { self.stream = stream }

    /// Takes the next token; the stop string it completed, if any.
    func append(_ token: Int) -> String? {
        text += stream.append(token)
        return stream.stoppedBy
    }

    func finish() -> String { text + stream.finish() }
}

/// Token ids of a comma-separated option (the same rule for the prompt and the stop ids).
func parseIDs(_ text: String, option: String) throws -> [Int32] {
    try CommaList.integers(text, option: option, atLeast: 0, expected: "a token id (non-negative integer)")
}

/// `--kv-dtype f32|bf16`.
extension LatentDType: ExpressibleByArgument {}
