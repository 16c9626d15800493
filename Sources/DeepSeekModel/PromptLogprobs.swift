import Kernels
#if canImport(Glibc)
import Glibc
#endif

extension DeepSeekTransformer {
    /// Floats per position in `promptLogprobs`' result for `top` most likely tokens.
    public static func promptLogprobsWidth(top: Int) -> Int { 2 + 2 * top }

    /// Rows of logits computed at once: as many as 32 MiB of [rows, vocab] logits hold (262 rows of a
    /// 32,000 vocabulary, 51 of Kimi's 163,840), and more than the skinny kernel's rows so that lm_head
    /// runs as a GEMM (32-row blocks took a prefill of 1024 tokens from 1.0 × to 1.4–1.55 ×).
    static func promptLogprobsBlock(vocab: Int) -> Int { max(BLAS.skinnyRowLimit + 1, (32 << 20) / MemoryLayout<Float>.size / vocab) }

    /// Prompt logprobs of the prefill step just run (call it next, with the same layout): each local
    /// row's next-token distribution (final norm, lm_head, log-softmax in f32 by the kernels' vector exp, as the
    /// last position's logits) gives the log-probability of `targets[row]` — the prompt's token at the
    /// next position, −1 where there is none (a request's last position, pads) — its rank (1 + the
    /// tokens strictly more likely, vLLM's), and the `top` most likely tokens (ties: lower id first).
    /// Returns the whole step's rows on every process, request-major in position order
    /// [Σ newTokens, promptLogprobsWidth(top)]: logprob, rank (0 without a target), top ids (exact as
    /// Float below 2^24), their logprobs. Valid until the next call. Under PCP each rank computes its
    /// own rows; one all-gather of these small rows restores the order.
    public func promptLogprobs(layout: PrefillLayout, targets: [Int32], top: Int, exchange: LatentExchange) throws -> UnsafePointer<Float> {
        let c = config, h = c.hiddenSize, vocab = c.vocabSize, rows = layout.localRows
        guard prefilledRows == rows, targets.count == rows else {
            throw ModelError.badLayout("prompt logprobs need the prefill step just run: \(targets.count) targets, \(rows) local rows, \(prefilledRows) prefilled")
        }
        guard top >= 0 && top <= vocab else { throw ModelError.badLayout("prompt logprobs: top \(top) outside 0...\(vocab)") }
        let width = Self.promptLogprobsWidth(top: top)
        let out = positionResults.zeroed(max(1, rows * width))                 // [localRows, width]
        let x = UnsafePointer(hidden.pointer)                                  // [localRows, hidden] final residual stream
        // Only the rows with a target (the prompts that asked, in a batch that may hold others), gathered.
        let wanted = targets.indices.filter { targets[$0] >= 0 }
        let block = max(1, min(wanted.count, Self.promptLogprobsBlock(vocab: vocab)))
        let gathered = positionRows.reserve(block * h), xn = normed.reserve(block * h), logits = positionLogits.reserve(block * vocab)
        var order = [Int32](repeating: 0, count: max(1, top))                  // [top] token ids, most likely first
        var start = 0
        while start < wanted.count {
            let count = min(block, wanted.count - start)
            for r in 0..<count { (gathered + r * h).update(from: x + wanted[start + r] * h, count: h) }
            Elementwise.rmsNorm(gathered, rows: count, dim: h, weight: weights.finalNorm.pointer, eps: Float(c.rmsNormEps), into: xn)
            Linear.apply(xn, rows: count, weight: weights.lmHead, into: logits)
            for r in 0..<count {
                let local = wanted[start + r]
                let row = logits + r * vocab
                let target = Int(targets[local]), targetLogit = row[target]
                var above = 0
                for v in 0..<vocab where row[v] > targetLogit { above += 1 }
                let result = out + local * width
                result[1] = Float(above + 1)
                let kept = order.withUnsafeMutableBufferPointer { VectorMath.largest(row, count: vocab, k: top, into: $0.baseAddress!) }
                for k in 0..<kept {
                    result[2 + k] = Float(order[k])
                    result[2 + top + k] = row[Int(order[k])]
                }
                // Then the row becomes its exponentials: log Σ e^x = max + log Σ e^(x − max).
                let maxLogit = VectorMath.max(row, count: vocab)
                let logSum = maxLogit + logf(VectorMath.expShifted(row, count: vocab, shift: maxLogit))
                result[0] = targetLogit - logSum
                for k in 0..<kept { result[2 + top + k] -= logSum }
            }
            start += count
        }
        return try exchange.gatherPositionRows(out, layout: layout, width: width)
    }
}
