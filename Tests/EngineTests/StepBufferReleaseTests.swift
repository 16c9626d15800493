import DeepSeekModel
import Engine
import Foundation
import TinyModelSupport
import XCTest

/// An idle prefill rank frees the model's step buffers (`releaseStepBuffers`); what runs afterwards
/// allocates them again and must compute exactly what it computed before.
final class StepBufferReleaseTests: XCTestCase {
    static let directory = TinyModel.directory

    func testReleasedBuffersShrinkAndTheNextRunIsBitIdentical() throws {
        let model = try DeepSeekTransformer(directory: Self.directory)
        let generator = Generator(model: model)
        let prompts: [[Int32]] = [(0..<300).map { Int32($0 * 13 % 512) }, [7, 8, 9]]
        let params = prompts.map { _ in SamplingParams(maxNewTokens: 6, ignoreEOS: true) }
        let first = try XCTUnwrap(generator.generate(prompts: prompts, params: params))
        let grown = model.stepBufferBytes
        XCTAssertGreaterThan(grown, 300 * model.config.hiddenSize * 4, "a 300-token prefill holds at least [300, hidden] floats")

        model.releaseStepBuffers()
        XCTAssertLessThan(model.stepBufferBytes, 4096, "released buffers keep only their minimum")

        let again = try XCTUnwrap(generator.generate(prompts: prompts, params: params))
        for (a, b) in zip(first, again) {
            XCTAssertEqual(a.tokens, b.tokens)
            XCTAssertEqual(a.logprobs, b.logprobs, "bit-identical logprobs after the buffers were freed and grown again")
        }
        XCTAssertEqual(model.stepBufferBytes, grown, "the same work grows them to the same size")
    }
}
