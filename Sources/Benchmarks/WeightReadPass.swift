import DeepSeekModel
import Dispatch
import Foundation

/// The memory yardstick of decode: one summing pass over the weights a decode step streams.
enum WeightReadPass {
    /// One summing pass over `regions`, split evenly over `threads` threads, best-of-`repeats`, in seconds.
    static func seconds(regions: [UnsafeBufferPointer<Float>], threads: Int, repeats: Int = 5) -> Double {
        // Cut every region into ~1 MiB slices so the threads get equal shares.
        var slices: [UnsafeBufferPointer<Float>] = []
        let sliceFloats = 1 << 18
        for r in regions {
            var start = 0
            while start < r.count {
                let n = min(sliceFloats, r.count - start)
                slices.append(UnsafeBufferPointer(rebasing: r[start..<start + n]))
                start += n
            }
        }
        let workers = max(threads, 1)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: workers)
        defer { sums.deallocate() }
        let t = bestTime(repeats: repeats) {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var acc = SIMD16<Float>()
                var i = w
                while i < slices.count {
                    let s = slices[i]
                    let base = UnsafeRawPointer(s.baseAddress!)
                    let vectors = s.count / 16
                    for v in 0..<vectors { acc += base.loadUnaligned(fromByteOffset: v * 64, as: SIMD16<Float>.self) }
                    for j in vectors * 16..<s.count { acc[0] += s[j] }
                    i += workers
                }
                sums[w] = acc.sum()
            }
        }
        var total: Float = 0
        for w in 0..<workers { total += sums[w] }
        if total.isNaN { FileHandle.standardError.write(Data("read pass sum is NaN\n".utf8)) }   // keeps the sum alive
        return t
    }

    /// Every weight tensor one decode step streams: all of them except the embedding table, of
    /// which a step reads only its tokens' rows; of kv_b only the W_UV rows (W_UK is read through
    /// its load-time transpose).
    static func decodeStreamedWeights(_ w: ModelWeights) -> [UnsafeBufferPointer<Float>] {
        var out: [UnsafeBufferPointer<Float>] = [w.finalNorm.buffer, w.lmHead.buffer]
        for l in w.layers {
            let a = l.attention
            out += [l.inputNorm.buffer, l.postAttentionNorm.buffer, a.inputProjection.buffer, a.kvANorm.buffer,
                    a.keyAbsorption.buffer, a.o.buffer]
            for h in 0..<a.keyAbsorption.shape[0] { out.append(a.valueAbsorption(head: h)) }
            for t in [a.qANorm, a.qB, a.q] { if let t { out.append(t.buffer) } }
            switch l.feedForward {
            case .dense(let m): out += [m.gateUp.buffer, m.down.buffer]
            case .moe(let m):
                out.append(m.router.buffer)
                if let b = m.correctionBias { out.append(b.buffer) }
                for e in m.experts { out += [e.gateUp.buffer, e.down.buffer] }
                if let s = m.shared { out += [s.gateUp.buffer, s.down.buffer] }
            }
        }
        return out
    }
}
