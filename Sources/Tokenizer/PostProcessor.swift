/// HF post-processors, for `addSpecialTokens` on single sequences.
enum PostProcessor {
    /// Ids around the sequence: prefix + A + suffix.
    case template(prefix: [Int], suffix: [Int])
    case byteLevel

    static func load(_ json: JSONValue, addedTokenID: (String) -> Int?) throws -> PostProcessor? {
        if json.isNull { return nil }
        guard let type = json["type"]?.string else { throw TokenizerError.malformed(file: "tokenizer.json", detail: "post_processor without type") }
        func bad(_ d: String) -> TokenizerError { .malformed(file: "tokenizer.json", detail: "post_processor \(type): \(d)") }
        switch type {
        case "ByteLevel":
            return .byteLevel
        case "TemplateProcessing":
            guard let single = json["single"]?.array else { throw bad("missing single") }
            var specials: [String: [Int]] = [:]
            for (name, value) in json["special_tokens"]?.objectPairs ?? [] {
                specials[name] = (value["ids"]?.array ?? []).compactMap(\.int)
            }
            var prefix: [Int] = [], suffix: [Int] = []
            var seenSequence = false
            for piece in single {
                if let seq = piece["Sequence"] {
                    guard seq["id"]?.string == "A", !seenSequence else { throw bad("single template must hold $A once") }
                    seenSequence = true
                } else if let sp = piece["SpecialToken"], let name = sp["id"]?.string {
                    guard let ids = specials[name] else { throw bad("special token \(name.debugDescription) not in special_tokens") }
                    if seenSequence { suffix += ids } else { prefix += ids }
                } else {
                    throw bad("unknown template piece")
                }
            }
            return .template(prefix: prefix, suffix: suffix)
        case "RobertaProcessing", "BertProcessing":
            guard let cls = json["cls"]?.array, cls.count == 2, let clsID = cls[1].int,
                  let sep = json["sep"]?.array, sep.count == 2, let sepID = sep[1].int else { throw bad("cls/sep") }
            return .template(prefix: [clsID], suffix: [sepID])
        case "Sequence":
            let list = try (json["processors"]?.array ?? []).compactMap { try load($0, addedTokenID: addedTokenID) }
            var prefix: [Int] = [], suffix: [Int] = []
            for p in list { if case let .template(a, b) = p { prefix = a + prefix; suffix += b } }
            return .template(prefix: prefix, suffix: suffix)
        default:
            throw TokenizerError.unsupported(component: "post-processor \(type)", detail: "supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence")
        }
    }

    var addsSpecialTokens: Bool {
        if case let .template(p, s) = self { return !p.isEmpty || !s.isEmpty }
        return false
    }

    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case let .template(prefix, suffix): return prefix + ids + suffix
        case .byteLevel: return ids
        }
    }
}
