import DeepSeekModel
import Engine
import Foundation
import XCTest

/// The logits processors and top logprobs against transformers' `generate` (scripts/golden/processors.py):
/// greedy with repetition_penalty, sequence_bias (logit_bias), min_new_tokens (min_tokens) and vLLM's
/// presence / frequency penalties, EOS stopping as configured; per step the token's and the top 5
/// tokens' log-probabilities under the raw logits.
final class LogitsProcessorGoldenTests: XCTestCase {
    struct Golden: Decodable {
        struct Step: Decodable {
            let token: Int
            let logprob: Float
            let top_ids: [Int]
            let top_logprobs: [Float]
        }
        struct Fields: Decodable {
            let repetition_penalty: Float?
            let presence_penalty: Float?
            let frequency_penalty: Float?
            let min_tokens: Int?
            let logit_bias: [String: Float]?
        }
        struct Run: Decodable {
            let name: String
            let prompt_ids: [Int32]
            let max_new_tokens: Int
            let sampling: Fields
            let tokens: [Int]
            let steps: [Step]
        }
        let top: Int
        let runs: [Run]
    }

    func testGreedyWithProcessorsMatchesTransformers() throws {
        let folder = GoldenTests.goldenRoot + "/v3_qlora_yarn_moe"
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/processors.json")))
        let generator = Generator(model: try DeepSeekTransformer(directory: folder))
        XCTAssertEqual(golden.runs.count, 4)
        for run in golden.runs {
            let f = run.sampling
            let params = SamplingParams(maxNewTokens: run.max_new_tokens, presencePenalty: f.presence_penalty ?? 0,
                                        frequencyPenalty: f.frequency_penalty ?? 0, repetitionPenalty: f.repetition_penalty ?? 1,
                                        minTokens: f.min_tokens ?? 0,
                                        logitBias: (f.logit_bias ?? [:]).map { TokenBias(token: Int($0.key)!, bias: $0.value) }
                                            .sorted { $0.token < $1.token },
                                        topLogprobs: golden.top)
            let out = try generator.generate(prompts: [run.prompt_ids], params: [params])![0]
            XCTAssertEqual(out.tokens, run.tokens, run.name)
            XCTAssertEqual(out.finishReason, run.tokens.count < run.max_new_tokens ? .stop(nil) : .length, run.name)
            for (i, (step, top)) in zip(run.steps, out.topLogprobs).enumerated() {
                XCTAssertEqual(out.logprobs[i], step.logprob, accuracy: 1e-4 * max(1, abs(step.logprob)), "\(run.name) step \(i)")
                XCTAssertEqual(top.map(\.token), step.top_ids, "\(run.name) step \(i)")
                for (got, want) in zip(top, step.top_logprobs) {
                    XCTAssertEqual(got.logprob, want, accuracy: 1e-4 * max(1, abs(want)), "\(run.name) step \(i)")
                }
            }
        }
    }

    /// A penalty that changes nothing leaves the plain greedy tokens (the processors' identity values).
    func testNeutralValuesChangeNothing() throws {
        let folder = GoldenTests.goldenRoot + "/v3_qlora_yarn_moe"
        let generator = Generator(model: try DeepSeekTransformer(directory: folder))
        let prompt: [Int32] = [5, 9, 200, 31]
        let plain = try generator.generate(prompts: [prompt], params: [SamplingParams(maxNewTokens: 8, ignoreEOS: true)])![0]
        let neutral = SamplingParams(maxNewTokens: 8, ignoreEOS: true, repetitionPenalty: 1, minTokens: 0,
                                     logitBias: [TokenBias(token: 3, bias: 0)], topLogprobs: 2)
        let same = try generator.generate(prompts: [prompt], params: [neutral])![0]
        XCTAssertEqual(same.tokens, plain.tokens)
        XCTAssertEqual(same.logprobs, plain.logprobs)
        XCTAssertEqual(plain.topLogprobs, [[TokenLogprob]](repeating: [], count: 8))
        XCTAssertEqual(same.topLogprobs.map(\.count), [Int](repeating: 2, count: 8))
    }
}

/// vLLM's prompt_logprobs against transformers' log_softmax over a full-prompt forward
/// (scripts/golden/processors.py): each prompt token's logprob and rank given the tokens before it,
/// and the 5 most likely tokens, for prompts of 1, 7, 33 and 300 tokens (PCP: PCPPromptLogprobsTests).
final class PromptLogprobsGoldenTests: XCTestCase {
    struct Golden: Decodable {
        struct Prompt: Decodable {
            let prompt_ids: [Int32]
            let logprobs: [Float]
            let ranks: [Int]
            let top_ids: [[Int]]
            let top_logprobs: [[Float]]
        }
        let prompt_logprobs: [Prompt]
    }

    static func golden() throws -> Golden {
        let path = GoldenTests.goldenRoot + "/v3_qlora_yarn_moe/processors.json"
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// `got` against the golden prompt, within 1e-4 relative.
    static func check(_ got: [PromptTokenLogprobs], _ want: Golden.Prompt, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.logprobs.count, label, file: file, line: line)
        for (entry, i) in zip(got, want.logprobs.indices) {
            XCTAssertEqual(entry.logprob, want.logprobs[i], accuracy: 1e-4 * max(1, abs(want.logprobs[i])), "\(label) token \(i + 1)", file: file, line: line)
            XCTAssertEqual(entry.rank, want.ranks[i], "\(label) token \(i + 1) rank", file: file, line: line)
            XCTAssertEqual(entry.top.map(\.token), want.top_ids[i], "\(label) token \(i + 1) top ids", file: file, line: line)
            for (t, w) in zip(entry.top, want.top_logprobs[i]) {
                XCTAssertEqual(t.logprob, w, accuracy: 1e-4 * max(1, abs(w)), "\(label) token \(i + 1) top", file: file, line: line)
            }
        }
    }

    func testPromptLogprobsMatchTransformers() throws {
        let golden = try Self.golden()
        XCTAssertEqual(golden.prompt_logprobs.map(\.prompt_ids.count), [1, 7, 33, 300])
        let model = try DeepSeekTransformer(directory: GoldenTests.goldenRoot + "/v3_qlora_yarn_moe")
        for chunk in [nil, 16] as [Int?] {
            let generator = Generator(model: model, chunkTokens: chunk)
            for prompt in golden.prompt_logprobs {
                let params = SamplingParams(maxNewTokens: 1, promptLogprobs: 5)
                let out = try generator.generate(prompts: [prompt.prompt_ids], params: [params])![0]
                Self.check(out.promptLogprobs ?? [], prompt, "\(prompt.prompt_ids.count)-token prompt, chunks of \(chunk.map(String.init) ?? "all")")
            }
        }
        // In one batch, each prompt with its own k (the batch computes the largest); none without.
        let batch = try Generator(model: model).generate(
            prompts: golden.prompt_logprobs.map(\.prompt_ids),
            params: [SamplingParams(maxNewTokens: 1), SamplingParams(maxNewTokens: 1, promptLogprobs: 0),
                     SamplingParams(maxNewTokens: 1, promptLogprobs: 2), SamplingParams(maxNewTokens: 1, promptLogprobs: 5)])!
        XCTAssertEqual(batch.map { $0.promptLogprobs?.count }, [nil, 6, 32, 299])
        XCTAssertEqual(batch.map { $0.promptLogprobs?.first?.top.count }, [nil, 0, 2, 5])
        Self.check(batch[3].promptLogprobs ?? [], golden.prompt_logprobs[3], "batched 300-token prompt")
    }
}
