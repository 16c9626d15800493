import ChatTemplate
import Foundation
import FuzzSupport

/// The chat template loader and renderer: the input is a template source (a checkpoint's
/// `chat_template`), parsed and rendered with a fixed conversation. Either text or a ChatTemplateError.
private let conversation: [Value] = [
    .object(OrderedDictionary([("role", .string("system")), ("content", .string("Be brief."))])),
    .object(OrderedDictionary([("role", .string("user")), ("content", .string("Hi <|x|> \u{00e9}"))])),
    .object(OrderedDictionary([("role", .string("assistant")), ("content", .string("Hello."))])),
    .object(OrderedDictionary([("role", .string("user")), ("content", .string("Again?"))])),
]
private let fixedDate = Date(timeIntervalSince1970: 1_700_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let template = try ChatTemplate(source: source)
        _ = try template.render(messages: conversation, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>",
                                now: fixedDate)
    } catch is ChatTemplateError {
    } catch {
        preconditionFailure("ChatTemplate threw a non-ChatTemplateError: \(error)")
    }
    return 0
}
