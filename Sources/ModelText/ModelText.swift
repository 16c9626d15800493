import ChatTemplate
import Foundation
import Tokenizer

/// A model folder's text side, the one owner of "text → prompt ids" and "ids → text" for every
/// surface (pd-run, pd-client, the gateway): its tokenizer, its chat template, and the rules HF
/// applies — a plain prompt gets what the tokenizer's post-processor / `add_bos_token` adds (BOS);
/// a chat is rendered by the template (which writes BOS itself) and tokenized without adding
/// special tokens, as `apply_chat_template(tokenize=True)` does.
public final class ModelText: @unchecked Sendable {
    public let tokenizer: Tokenizer
    private let template: ChatTemplate?
    private let templateError: Error?
    /// Every non-special token's bytes → its ids, and the longest (choice constraints), built on first use.
    private var byteIndex: (tokens: [[UInt8]: [Int]], longest: Int)?
    private let byteIndexLock = NSLock()

    public init(folder: String) throws {
        tokenizer = try Tokenizer(folder: URL(fileURLWithPath: folder))
        if let source = tokenizer.chatTemplate {
            do { template = try ChatTemplate(source: source); templateError = nil } catch {
                template = nil; templateError = error   // reported when a chat is rendered, not at load
            }
        } else {
            template = nil; templateError = nil
        }
    }

    /// Whether the folder has a text side to load: tokenizer.json, or a tiktoken vocabulary.
    public static func isPresent(inFolder folder: String) -> Bool { Tokenizer.isPresent(inFolder: folder) }

    /// The ids of a plain prompt, special tokens added as the tokenizer says (unless `addSpecialTokens`
    /// is false: vLLM's add_special_tokens).
    public func encode(prompt: String, addSpecialTokens: Bool = true) -> [Int] {
        tokenizer.encode(prompt, addSpecialTokens: addSpecialTokens)
    }

    /// The chat template's text for OpenAI-style messages (and tools), then its ids;
    /// `continueFinalMessage` leaves the last message open (ChatTemplate.render); `addSpecialTokens`
    /// adds the tokenizer's (BOS) on top of what the template wrote (vLLM's chat add_special_tokens).
    public func encode(chat messages: [Value], addGenerationPrompt: Bool = true, continueFinalMessage: Bool = false,
                       tools: [Value]? = nil, extra: [String: Value] = [:], addSpecialTokens: Bool = false) throws -> (text: String, ids: [Int]) {
        let text = try render(chat: messages, addGenerationPrompt: addGenerationPrompt, continueFinalMessage: continueFinalMessage,
                              tools: tools, extra: extra)
        return (text, tokenizer.encode(text, addSpecialTokens: addSpecialTokens))
    }

    public func render(chat messages: [Value], addGenerationPrompt: Bool = true, continueFinalMessage: Bool = false,
                       tools: [Value]? = nil, extra: [String: Value] = [:]) throws -> String {
        if let templateError { throw ModelTextError.badTemplate(String(describing: templateError)) }
        guard let template else { throw ModelTextError.noChatTemplate }
        let special = { (id: Int?) in id.flatMap { self.tokenizer.token(for: $0) } ?? "" }
        return try template.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                   continueFinalMessage: continueFinalMessage, tools: tools,
                                   bosToken: tokenizer.config.bosToken ?? special(tokenizer.bosTokenID),
                                   eosToken: tokenizer.config.eosToken ?? special(tokenizer.eosTokenIDs.first),
                                   extra: extra)
    }

    /// The token byte index (see `byteIndex`) over ids below `vocabSize`.
    func tokenBytes(vocabSize: Int) -> (tokens: [[UInt8]: [Int]], longest: Int) {
        byteIndexLock.lock()
        defer { byteIndexLock.unlock() }
        if let byteIndex { return byteIndex }
        var tokens: [[UInt8]: [Int]] = [:]
        var longest = 0
        for id in 0..<vocabSize where tokenizer.token(for: id) != nil && !tokenizer.isSpecial(id) {
            let bytes = tokenizer.bytes(of: id)
            guard !bytes.isEmpty else { continue }
            tokens[bytes, default: []].append(id)
            longest = max(longest, bytes.count)
        }
        byteIndex = (tokens, longest)
        return (tokens, longest)
    }

    /// Whole-sequence decoding (vLLM's default skips special tokens).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// OpenAI-style messages from JSON text (an array of {role, content, ...} objects).
    public static func messages(json: String) throws -> [Value] {
        guard case let .array(items) = try Value(json: json) else {
            throw ModelTextError.badMessages("expected a JSON array of message objects")
        }
        for (i, item) in items.enumerated() {
            guard case let .object(fields) = item, fields["role"] != nil else {
                throw ModelTextError.badMessages("message \(i) is not an object with a \"role\"")
            }
        }
        return items
    }
}

public enum ModelTextError: Error, CustomStringConvertible, Equatable {
    case noChatTemplate
    case badTemplate(String)
    case badMessages(String)

    public var description: String {
        switch self {
        case .noChatTemplate: return "the model has no chat template (tokenizer_config.json chat_template or chat_template.jinja)"
        case let .badTemplate(why): return "the model's chat template cannot be used: \(why)"
        case let .badMessages(why): return "messages: \(why)"
        }
    }
}
