import Foundation

/// What the side files of a model folder say about special tokens and chat formatting:
/// tokenizer_config.json, generation_config.json, special_tokens_map.json, chat_template.jinja.
public struct TokenizerConfig {
    public var addBOSToken: Bool?
    public var addEOSToken: Bool?
    public var bosToken: String?
    public var eosToken: String?
    public var generationBOSTokenID: Int?
    public var generationEOSTokenIDs: [Int] = []
    /// Raw Jinja source: `chat_template` of tokenizer_config.json (string, or the entry named "default"
    /// of a list of {name, template}), else chat_template.jinja.
    public var chatTemplate: String?

    public init() {}

    public init(folder: URL) throws {
        if let json = try TokenizerConfig.readJSON(folder.appendingPathComponent("special_tokens_map.json")) {
            bosToken = TokenizerConfig.tokenContent(json["bos_token"])
            eosToken = TokenizerConfig.tokenContent(json["eos_token"])
        }
        if let json = try TokenizerConfig.readJSON(folder.appendingPathComponent("tokenizer_config.json")) {
            try apply(tokenizerConfig: json)
        }
        if let json = try TokenizerConfig.readJSON(folder.appendingPathComponent("generation_config.json")) {
            apply(generationConfig: json)
        }
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        if chatTemplate == nil, let data = FileManager.default.contents(atPath: jinja.path) {
            chatTemplate = String(decoding: data, as: UTF8.self)
        }
    }

    public mutating func apply(tokenizerConfig json: JSONValue) throws {
        addBOSToken = json["add_bos_token"]?.bool ?? addBOSToken
        addEOSToken = json["add_eos_token"]?.bool ?? addEOSToken
        bosToken = TokenizerConfig.tokenContent(json["bos_token"]) ?? bosToken
        eosToken = TokenizerConfig.tokenContent(json["eos_token"]) ?? eosToken
        if let template = json["chat_template"] {
            if let s = template.string {
                chatTemplate = s
            } else if let list = template.array {
                let named = list.compactMap { entry -> (String, String)? in
                    guard let name = entry["name"]?.string, let t = entry["template"]?.string else { return nil }
                    return (name, t)
                }
                guard let chosen = named.first(where: { $0.0 == "default" }) else {
                    throw TokenizerError.malformed(file: "tokenizer_config.json", detail: "chat_template list has no entry named \"default\"")
                }
                chatTemplate = chosen.1
            }
        }
    }

    public mutating func apply(generationConfig json: JSONValue) {
        generationBOSTokenID = json["bos_token_id"]?.int ?? generationBOSTokenID
        if let one = json["eos_token_id"]?.int {
            generationEOSTokenIDs = [one]
        } else if let list = json["eos_token_id"]?.array {
            generationEOSTokenIDs = list.compactMap(\.int)
        }
    }

    /// A token given as a string or as {"content": ...}.
    static func tokenContent(_ json: JSONValue?) -> String? {
        guard let json else { return nil }
        return json.string ?? json["content"]?.string
    }

    static func readJSON(_ url: URL) throws -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try JSONValue.parse(Array(data), file: url.lastPathComponent)
    }
}
