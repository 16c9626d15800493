import ContextParallel
import DeepSeekModel
import Engine
import Foundation
import XCTest

/// Prompt logprobs under PCP: every rank computes its own rows' (dual-chunk-swap shards, pads), one
/// all-gather restores position order; at P = 2, 3, 4, whole and chunked, the same as transformers
/// (the golden of PromptLogprobsGoldenTests) and as the single-rank run.
final class PCPPromptLogprobsTests: XCTestCase {
    struct Golden: Decodable {
        struct Prompt: Decodable { let prompt_ids: [Int32]; let logprobs: [Float]; let ranks: [Int]; let top_ids: [[Int]] }
        let prompt_logprobs: [Prompt]
    }

    func testPromptLogprobsUnderPCPMatchTransformers() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DeepSeekModelTests/Golden/v3_qlora_yarn_moe").path
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/processors.json")))
        let prompts = golden.prompt_logprobs.filter { $0.prompt_ids.count > 1 }
        let params = prompts.map { _ in SamplingParams(maxNewTokens: 1, promptLogprobs: 5) }
        let single = try Generator(model: DeepSeekTransformer(directory: dir)).generate(prompts: prompts.map(\.prompt_ids), params: params)!
        for ranks in [2, 3, 4] {
            for chunk in [nil, 24] as [Int?] {
                let outputs = try InProcessGroup(size: ranks).run { comm in
                    try Generator(model: DeepSeekTransformer(directory: dir), communicator: comm, chunkTokens: chunk)
                        .generate(prompts: prompts.map(\.prompt_ids), params: params)
                }
                guard let out = outputs[0] else { return XCTFail("rank 0 returned nothing") }
                XCTAssertNil(outputs[1], "ranks > 0 return nothing")
                for (i, prompt) in prompts.enumerated() {
                    let label = "\(prompt.prompt_ids.count)-token prompt, \(ranks) ranks, chunks of \(chunk.map(String.init) ?? "all")"
                    let got = out[i].promptLogprobs ?? []
                    XCTAssertEqual(got.count, prompt.logprobs.count, label)
                    XCTAssertEqual(got.map(\.rank), prompt.ranks, label)
                    XCTAssertEqual(got.map { $0.top.map(\.token) }, prompt.top_ids, label)
                    for (entry, want) in zip(got, prompt.logprobs) { XCTAssertEqual(entry.logprob, want, accuracy: 1e-4 * max(1, abs(want)), label) }
                    for (entry, one) in zip(got, single[i].promptLogprobs ?? []) { XCTAssertEqual(entry.logprob, one.logprob, accuracy: 1e-5 * max(1, abs(one.logprob)), label + " vs 1 rank") }
                }
            }
        }
    }
}
