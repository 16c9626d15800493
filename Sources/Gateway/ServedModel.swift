import Basics
import Foundation
import ModelText

/// What the gateway knows of the model it fronts: its name, context length and text side
/// (tokenizer + chat template). Only config.json's few fields are read — no weights, no model code.
public final class ServedModel: @unchecked Sendable {
    /// The name clients send as "model" (the --model argument as given, or --served-model-name).
    public let name: String
    public let folder: String
    public let vocabSize: Int
    /// max_position_embeddings: prompt + generated tokens must fit.
    public let contextLength: Int
    public let text: ModelText
    /// How tool calls are read off the generated tokens (`--tool-call-parser`); nil: tools are refused.
    public let toolCalls: ToolCallFormat?
    /// How reasoning is told from the answer (`--reasoning-parser`); nil: all of it is content.
    public let reasoning: ReasoningFormat?

    public init(model: String, servedName: String? = nil, toolCallParser: ToolCallFormat.Name? = nil,
                reasoningParser: ReasoningFormat.Name? = nil) throws {
        folder = try Self.folder(for: model)
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GatewayError.model("cannot read \(configPath) as a JSON object")
        }
        // DeepSeek-V2/V3 configs keep these at the top level (multimodal ones under text_config).
        let fields = (config["text_config"] as? [String: Any]) ?? config
        guard let vocab = fields["vocab_size"] as? Int, vocab > 0 else {
            throw GatewayError.model("\(configPath): vocab_size missing or not a positive integer")
        }
        guard let context = fields["max_position_embeddings"] as? Int, context > 0 else {
            throw GatewayError.model("\(configPath): max_position_embeddings missing or not a positive integer")
        }
        vocabSize = vocab
        contextLength = context
        let text: ModelText
        do { text = try ModelText(folder: folder) } catch {
            throw GatewayError.model("\(folder): cannot load the tokenizer: \(error)")
        }
        self.text = text
        name = servedName ?? model
        toolCalls = try toolCallParser.map { try ToolCallFormat($0, text: text) }
        reasoning = try reasoningParser.map { try ReasoningFormat($0, text: text) }
    }

    /// `--model`: a folder, or a built-in name whose folder the daemons write on first use
    /// (`BuiltinModelFolder`). The gateway links no model code, so it finds that folder but never writes it.
    static func folder(for model: String) throws -> String {
        let builtins = BuiltinModelFolder.names
        guard builtins.contains(model) else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw GatewayError.model("--model \(model): not a folder nor a built-in model (\(builtins.joined(separator: ", ")))")
            }
            return model
        }
        let folder = BuiltinModelFolder.path(name: model)
        guard ModelText.isPresent(inFolder: folder) else {
            throw GatewayError.model("built-in model \(model) is not written yet at \(folder): start pd-decode or pd-prefill with --model \(model) first (they write it)")
        }
        return folder
    }
}

/// Startup failures, one clear line each.
public enum GatewayError: Error, CustomStringConvertible {
    case model(String)
    case arguments(String)

    public var description: String {
        switch self {
        case let .model(why): return "model: \(why)"
        case let .arguments(why): return why
        }
    }
}
