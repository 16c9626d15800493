import DeepSeekModel
import Engine
import Foundation
import StructuredOutput
import TinyModelSupport
import XCTest

/// The stop predicate and the admission validator every path shares (Generator, batcher, daemons).
final class LifecycleTests: XCTestCase {
    func testStopIDsEOSAndLength() {
        let stop = StopCondition(params: SamplingParams(stopTokenIDs: [9, 11], maxNewTokens: 5), eosTokenIDs: [1, 2])
        XCTAssertNil(stop.finish(after: 3, generated: 1))
        XCTAssertEqual(stop.finish(after: 9, generated: 2), .stop(.token(9)))
        XCTAssertEqual(stop.finish(after: 11, generated: 4), .stop(.token(11)))
        XCTAssertEqual(stop.finish(after: 1, generated: 2), .stop(nil))
        XCTAssertEqual(stop.finish(after: 2, generated: 3), .stop(nil), "every id of an EOS list ends generation")
        XCTAssertNil(stop.finish(after: 3, generated: 4))
        XCTAssertEqual(stop.finish(after: 3, generated: 5), .length)
        XCTAssertEqual(stop.finish(after: 2, generated: 5), .stop(nil), "EOS on the last allowed token is stop, not length")
        XCTAssertEqual(stop.finish(after: 9, generated: 5), .stop(.token(9)))
    }

    /// OpenAI's and vLLM's words: EOS, stop ids and stop strings all finish with "stop"; vLLM's
    /// stop_reason is null for EOS, the id for a stop id, the string for a stop string.
    func testNamesAndStopReasons() {
        let stop = StopCondition(params: SamplingParams(stopTokenIDs: [9], maxNewTokens: 5), eosTokenIDs: [1])
        let eos = stop.finish(after: 1, generated: 1)!, id = stop.finish(after: 9, generated: 1)!
        let text = stop.finish(after: 4, generated: 1, stopString: "###")!, length = stop.finish(after: 4, generated: 5)!
        XCTAssertEqual([eos, id, text, length].map(\.name), ["stop", "stop", "stop", "length"])
        XCTAssertEqual(eos.stopReason, nil)
        XCTAssertEqual(id.stopReason, .token(9))
        XCTAssertEqual(text.stopReason, .text("###"))
        XCTAssertEqual(length.stopReason, nil)
        XCTAssertEqual([FinishReason.cancelled, .deadline, .error].map(\.name), ["cancelled", "deadline", "error"])
    }

    /// vLLM checks the EOS before the request's stop ids: a token that is both ends on EOS (stop_reason null).
    func testATokenThatIsBothEOSAndAStopIDIsEOS() {
        let stop = StopCondition(params: SamplingParams(stopTokenIDs: [1], maxNewTokens: 5), eosTokenIDs: [1])
        XCTAssertEqual(stop.finish(after: 1, generated: 1), .stop(nil))
        let ignoring = StopCondition(params: SamplingParams(stopTokenIDs: [1], maxNewTokens: 5, ignoreEOS: true), eosTokenIDs: [1])
        XCTAssertEqual(ignoring.finish(after: 1, generated: 1), .stop(.token(1)), "with ignore_eos the stop id still ends it")
    }

    /// A token ending a stop id or EOS wins over a stop string completed by the same token (vLLM does
    /// not check the stop string on the token that stopped); a stop string wins over the length.
    func testStopStringOrder() {
        let stop = StopCondition(params: SamplingParams(stopTokenIDs: [9], maxNewTokens: 3), eosTokenIDs: [1])
        XCTAssertEqual(stop.finish(after: 9, generated: 1, stopString: "x"), .stop(.token(9)))
        XCTAssertEqual(stop.finish(after: 1, generated: 1, stopString: "x"), .stop(nil))
        XCTAssertEqual(stop.finish(after: 4, generated: 3, stopString: "x"), .stop(.text("x")))
    }

    func testIgnoreEOS() {
        let stop = StopCondition(params: SamplingParams(stopTokenIDs: [9], maxNewTokens: 3, ignoreEOS: true), eosTokenIDs: [1, 2])
        XCTAssertTrue(stop.eosTokenIDs.isEmpty)
        XCTAssertNil(stop.finish(after: 1, generated: 1))
        XCTAssertNil(stop.finish(after: 2, generated: 2))
        XCTAssertEqual(stop.finish(after: 9, generated: 2), .stop(.token(9)), "stop ids still apply")
        XCTAssertEqual(stop.finish(after: 1, generated: 3), .length)
    }

    /// The first token (sampled by the prefill) is the 1st generated token.
    func testFirstTokenFromPrefill() {
        let one = StopCondition(params: SamplingParams(maxNewTokens: 1), eosTokenIDs: [1])
        XCTAssertEqual(one.finish(after: 5, generated: 1), .length)
        XCTAssertEqual(one.finish(after: 1, generated: 1), .stop(nil))
        let more = StopCondition(params: SamplingParams(maxNewTokens: 8), eosTokenIDs: [1])
        XCTAssertNil(more.finish(after: 5, generated: 1))
        XCTAssertEqual(more.finish(after: 1, generated: 1), .stop(nil))
    }

    func testNoEOSInTheModel() {
        let stop = StopCondition(params: SamplingParams(maxNewTokens: 2), eosTokenIDs: [])
        XCTAssertNil(stop.finish(after: 1, generated: 1))
        XCTAssertEqual(stop.finish(after: 1, generated: 2), .length)
    }

    // MARK: Admission

    /// tiny: vocab 512, max_position_embeddings 4096.
    static let config = try! JSONDecoder().decode(DeepSeekConfig.self, from: JSONSerialization.data(withJSONObject: BuiltinModel.tiny.config))

    func field(_ prompt: [Int32], _ params: SamplingParams = SamplingParams()) -> String? {
        do { try Admission.validate(prompt: prompt, params: params, config: Self.config); return nil } catch let e as AdmissionError {
            XCTAssertEqual("\(e)", "\(e.field): \(e.reason)")
            return e.field
        } catch { XCTFail("unexpected \(error)"); return nil }
    }

    func testAdmissionAcceptsValidRequests() {
        XCTAssertNil(field([0]))
        XCTAssertNil(field([3, 511], SamplingParams(temperature: 0.7, topK: 40, topP: 0.9, seed: 3, stopTokenIDs: [0, 511], maxNewTokens: 4094)))
        XCTAssertNil(field([Int32](repeating: 5, count: 4095), SamplingParams(maxNewTokens: 1)), "prompt + max_new_tokens = the context")
    }

    func testAdmissionNamesEachField() {
        XCTAssertEqual(field([]), "prompt_token_ids")
        XCTAssertEqual(field([3, 512]), "prompt_token_ids")
        XCTAssertEqual(field([-1]), "prompt_token_ids")
        XCTAssertEqual(field([3], SamplingParams(maxNewTokens: 0)), "max_new_tokens")
        XCTAssertEqual(field([3, 17], SamplingParams(maxNewTokens: 4095)), "max_new_tokens")
        XCTAssertEqual(field([Int32](repeating: 5, count: 4096), SamplingParams(maxNewTokens: 1)), "max_new_tokens")
        XCTAssertEqual(field([3], SamplingParams(temperature: -1)), "sampling.temperature")
        XCTAssertEqual(field([3], SamplingParams(topK: -1)), "sampling.top_k")
        XCTAssertEqual(field([3], SamplingParams(topP: 2)), "sampling.top_p")
        XCTAssertEqual(field([3], SamplingParams(stopTokenIDs: [512])), "sampling.stop_token_ids")
    }

    /// json_object samples under the model folder's tokenizer: found once per process, or a clear
    /// AdmissionError when the folder has none; pd-run's path (Generator) then keeps the reply a JSON object.
    func testJSONObjectTakesTheFoldersVocabulary() throws {
        let model = try TinyModel.load()
        XCTAssertNil(try Admission.grammar(for: SamplingParams(), model: model), "nothing to load without a grammar")
        func loaded(_ params: SamplingParams) throws -> TokenVocabulary? {
            switch try Admission.grammar(for: params, model: model) {
            case .jsonObject(let v, _)?, .jsonSchema(_, let v)?, .regex(_, let v)?, .grammar(_, let v)?: return v
            case nil: return nil
            }
        }
        let vocabulary = try XCTUnwrap(try loaded(SamplingParams(jsonObject: true)))
        XCTAssertTrue(vocabulary === (try loaded(SamplingParams(jsonSchema: #"{"type": "integer"}"#))), "loaded once")
        XCTAssertEqual(vocabulary.vocabSize, 512)

        let bare = FileManager.default.temporaryDirectory.appendingPathComponent("no-tokenizer-\(getpid())")
        try FileManager.default.createDirectory(at: bare, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: bare) }
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: TinyModel.directory + "/" + name, toPath: bare.appendingPathComponent(name).path)
        }
        XCTAssertThrowsError(try Admission.grammar(for: SamplingParams(jsonObject: true),
                                                   model: DeepSeekTransformer(directory: bare.path))) {
            XCTAssertEqual(($0 as? AdmissionError)?.field, "sampling.json_object")
            XCTAssertTrue("\($0)".contains("no tokenizer"), "\($0)")
        }

        let params = SamplingParams(temperature: 1, seed: 5, maxNewTokens: 48, jsonObject: true)
        let output = try XCTUnwrap(try Generator(model: model).generate(prompts: [[1, 2, 3]], params: [params])?.first)
        var grammar = JSONGrammar()
        for token in output.tokens where !model.config.eosTokenIDs.contains(Int(token)) {
            XCTAssertTrue(grammar.accept(vocabulary.bytes(of: Int(token))), "token \(token) breaks the JSON object")
        }
        XCTAssertEqual(output.finishReason == .stop(nil), grammar.isComplete, "EOS exactly when the object has closed")

        // A JSON Schema the same way: every token keeps the text an instance's start.
        let schema = #"{"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}, "required": ["n"]}"#
        let schemaParams = SamplingParams(temperature: 1, seed: 6, maxNewTokens: 48, jsonSchema: schema)
        let schemaOutput = try XCTUnwrap(try Generator(model: model).generate(prompts: [[1, 2, 3]], params: [schemaParams])?.first)
        let compiled = try JSONSchema(json: Array(schema.utf8))
        var state = JSONSchemaState()
        for token in schemaOutput.tokens where !model.config.eosTokenIDs.contains(Int(token)) {
            XCTAssertTrue(state.accept(vocabulary.bytes(of: Int(token)), in: compiled), "token \(token) leaves the schema")
        }
        XCTAssertEqual(schemaOutput.finishReason == .stop(nil), state.canEnd(in: compiled), "EOS exactly when the value is whole")

        // A regular expression: every token keeps the text a match's start, EOS once the match is whole.
        let pattern = #"(yes|no|[A-Z]é)( [a-c0-9]{1,3}){0,2}\."#
        XCTAssertTrue(vocabulary === (try loaded(SamplingParams(regex: pattern))), "loaded once")
        let automaton = try RegexAutomaton(pattern: pattern)
        for seed: UInt64 in 7...9 {
            let regexParams = SamplingParams(temperature: 1, seed: seed, maxNewTokens: 48, regex: pattern)
            let regexOutput = try XCTUnwrap(try Generator(model: model).generate(prompts: [[1, 2, 3]], params: [regexParams])?.first)
            let text = regexOutput.tokens.filter { !model.config.eosTokenIDs.contains(Int($0)) }.flatMap { vocabulary.bytes(of: Int($0)) }
            XCTAssertEqual(regexOutput.finishReason, .stop(nil), "the pattern's matches are short: \(text)")
            XCTAssertTrue(automaton.matches(text), "\(String(decoding: text, as: UTF8.self))")
        }

        // A GBNF grammar the same way (a list of words, recursive), and one that cannot be served named.
        let gbnf = #"root ::= "[" item ("," item)* "]"\#nitem ::= [a-z]{1,4} | root"#
        XCTAssertTrue(vocabulary === (try loaded(SamplingParams(grammar: gbnf))), "loaded once")
        let compiledGrammar = try GBNFGrammar(gbnf)
        for seed: UInt64 in 10...12 {
            let grammarParams = SamplingParams(temperature: 1, seed: seed, maxNewTokens: 64, grammar: gbnf)
            let grammarOutput = try XCTUnwrap(try Generator(model: model).generate(prompts: [[1, 2, 3]], params: [grammarParams])?.first)
            let matcher = GBNFMatcher(compiledGrammar)
            var walk = matcher.startState
            for token in grammarOutput.tokens where !model.config.eosTokenIDs.contains(Int(token)) {
                XCTAssertTrue(vocabulary.bytes(of: Int(token)).allSatisfy { walk.accept($0, in: matcher) }, "token \(token) leaves the grammar")
            }
            XCTAssertEqual(grammarOutput.finishReason == .stop(nil), walk.canEnd(in: matcher), "EOS exactly when the text is whole")
        }
        XCTAssertThrowsError(try Admission.grammar(for: SamplingParams(grammar: "root ::= item"), model: model)) {
            XCTAssertEqual(($0 as? AdmissionError)?.field, "sampling.grammar")
            XCTAssertTrue("\($0)".contains("undefined rule 'item'"), "\($0)")
        }
    }

    func testAdmissionTakesWireIntegers() throws {
        XCTAssertNoThrow(try Admission.validate(prompt: [UInt32(3), 17], params: SamplingParams(), config: Self.config))
        XCTAssertThrowsError(try Admission.validate(prompt: [UInt32.max], params: SamplingParams(), config: Self.config)) {
            XCTAssertEqual(($0 as? AdmissionError)?.field, "prompt_token_ids")
        }
    }
}
