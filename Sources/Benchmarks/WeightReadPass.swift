import DeepSeekModel
import Dispatch
import Foundation

/// The memory yardstick of decode: one summing pass over the weights a decode step streams.
enum WeightReadPass {
    /// One summing pass over `regions` (weights in whatever dtype they are held), split evenly over
    /// `threads` threads, best-of-`repeats`, in seconds.
    static func seconds(regions: [UnsafeRawBufferPointer], threads: Int, repeats: Int = 5) -> Double {
        // Cut every region into ~1 MiB slices so the threads get equal shares.
        var slices: [UnsafeRawBufferPointer] = []
        let sliceBytes = 1 << 20
        for r in regions {
            var start = 0
            while start < r.count {
                let n = min(sliceBytes, r.count - start)
                slices.append(UnsafeRawBufferPointer(rebasing: r[start..<start + n]))
                start += n
            }
        }
        let workers = max(threads, 1)
        let sums = UnsafeMutablePointer<UInt32>.allocate(capacity: workers)
        defer { sums.deallocate() }
        let t = bestTime(repeats: repeats) {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var acc = SIMD16<UInt32>()
                var i = w
                while i < slices.count {
                    let s = slices[i]
                    let base = s.baseAddress!
                    let vectors = s.count / 64
                    for v in 0..<vectors { acc &+= base.loadUnaligned(fromByteOffset: v * 64, as: SIMD16<UInt32>.self) }
                    for j in vectors * 64..<s.count { acc[0] &+= UInt32(s[j]) }
                    i += workers
                }
                sums[w] = acc.wrappedSum()
            }
        }
        var total: UInt32 = 0
        for w in 0..<workers { total &+= sums[w] }
        if total == 0x5EED_F00D { FileHandle.standardError.write(Data("read pass sum \(total)\n".utf8)) }   // keeps the sum alive
        return t
    }

    /// Every weight region one decode step streams (see ModelWeights.decodeStreamedRegions).
    static func decodeStreamedWeights(_ w: ModelWeights) -> [UnsafeRawBufferPointer] { w.decodeStreamedRegions }
}
