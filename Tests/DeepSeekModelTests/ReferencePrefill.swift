import DeepSeekModel
import Foundation
import KVCache

extension DeepSeekTransformer {
    /// Single-process reference prefill of several prompts; returns last-position logits and the cache.
    func referencePrefill(_ prompts: [[Int32]], extraCapacity: Int = 8, pageSize: Int = 4) throws -> (logits: [[Float]], cache: PagedLatentCache, sequences: [Int]) {
        let pages = prompts.reduce(0) { $0 + ($1.count + extraCapacity + pageSize - 1) / pageSize }
        let cache = try PagedLatentCache(layers: config.numHiddenLayers, rowWidth: config.latentRowWidth, pageSize: pageSize, pageCount: pages)
        let sequences = try prompts.map { try cache.allocate(capacity: $0.count + extraCapacity) }
        let logits = try prefill(.singleRank(newTokens: prompts), sequences: sequences, cache: cache)!
        for (i, s) in sequences.enumerated() { try cache.setLength(prompts[i].count, of: s) }
        return (logits, cache, sequences)
    }
}

func argmax(_ a: [Float]) -> Int { a.indices.max { a[$0] < a[$1] || (a[$0] == a[$1] && $0 > $1) }! }
