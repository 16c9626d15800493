import FuzzSupport
import StructuredOutput
@testable import Gateway

/// The gateway's request-body decoding and validation (JSON fields, prompts, messages through the
/// chat template and tokenizer, sampling limits): a GenerationRequest whose prompts fit the context,
/// or an APIError (a 4xx), never a crash. The first byte picks /v1/completions or /v1/chat/completions.
private let served = try! ServedModel(model: fuzzModelFolder(), servedName: "tiny", toolCallParser: .deepseekV31)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGatewayRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let first = input.first else { return 0 }
    let body = String(decoding: input[1...], as: UTF8.self)   // as the HTTP layer hands it over
    do {
        let request = try GenerationRequest(body: body, kind: first & 1 == 0 ? .completion : .chat, model: served)
        for (prompt, maxTokens) in zip(request.prompts, request.maxTokens) {
            precondition(!prompt.isEmpty || request.kind == .completion, "empty chat prompt accepted")
            // 0 only for completions' echo alone, which still asks decode for one token.
            precondition(maxTokens >= (request.kind == .completion && request.echo ? 0 : 1) && prompt.count + max(1, maxTokens) <= served.contextLength,
                         "request exceeds the context")
            precondition(prompt.allSatisfy { $0 >= 0 && $0 < served.vocabSize }, "prompt id outside the vocabulary")
        }
        // An accepted JSON Schema compiles as the daemons will compile it, and its recognizer takes any bytes.
        if !request.sampling.jsonSchema.isEmpty {
            let schema = try! JSONSchema(json: Array(request.sampling.jsonSchema.utf8))
            var state = JSONSchemaState()
            for byte in input where !state.accept(byte, in: schema) { break }
        }
        // So does an accepted regular expression, and its automaton takes any bytes.
        if !request.sampling.regex.isEmpty {
            let automaton = try! RegexAutomaton(pattern: request.sampling.regex)
            var state = RegexState(automaton)
            for byte in input where !state.accept(byte, in: automaton) { break }
        }
        // And an accepted GBNF grammar.
        if !request.sampling.grammar.isEmpty {
            let matcher = GBNFMatcher(try! GBNFGrammar(request.sampling.grammar))
            var state = matcher.startState
            for byte in input where !state.accept(byte, in: matcher) { break }
        }
    } catch is APIError {
    } catch {
        preconditionFailure("GenerationRequest threw a non-APIError: \(error)")
    }
    return 0
}
