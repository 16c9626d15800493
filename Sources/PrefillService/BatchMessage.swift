/// What rank 0 broadcasts to the other ranks before each step: the prompts of the batch, idle (no
/// batch for a while: free the step buffers), or stop.
/// Layout (UInt32 little-endian): [count, len_0, tokens_0..., len_1, tokens_1, ...]; stop = [UInt32.max],
/// idle = [UInt32.max - 1].
enum BatchMessage: Equatable {
    /// The prompts, and per prompt the prompt logprobs' top k it asks for, if any (every rank computes
    /// its rows of those); nil when none asks.
    case batch([[Int32]], promptLogprobs: [Int?]?)
    case idle
    case stop

    func encode() -> [UInt8] {
        var words: [UInt32] = []
        switch self {
        case .stop: words = [UInt32.max]
        case .idle: words = [UInt32.max - 1]
        case .batch(let prompts, let promptLogprobs):
            words.append(UInt32(prompts.count))
            for p in prompts { words.append(UInt32(p.count)); words += p.map { UInt32(bitPattern: $0) } }
            // Per prompt: 0 none, k + 1 for k; a batch with no request for them sends no words.
            if let promptLogprobs { words += promptLogprobs.map { $0.map { UInt32($0) + 1 } ?? 0 } }
        }
        return words.withUnsafeBytes { Array($0) }
    }

    static func decode(_ bytes: [UInt8]) throws -> BatchMessage {
        guard bytes.count % 4 == 0, bytes.count >= 4 else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
        let words = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        if words[0] == UInt32.max { return .stop }
        if words[0] == UInt32.max - 1 { return .idle }
        var prompts: [[Int32]] = [], i = 1
        for _ in 0..<Int(words[0]) {
            guard i < words.count else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
            let n = Int(words[i]); i += 1
            guard i + n <= words.count else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
            prompts.append(words[i..<i + n].map { Int32(bitPattern: $0) })
            i += n
        }
        guard i == words.count || i + prompts.count == words.count else { throw PrefillServiceError.corruptBatchMessage(bytes.count) }
        let wants = i == words.count ? nil : words[i...].map { $0 == 0 ? nil : Int($0) - 1 }
        return .batch(prompts, promptLogprobs: wants)
    }
}

public enum PrefillServiceError: Error, CustomStringConvertible {
    case corruptBatchMessage(Int)
    case cacheTooSmall(tokens: Int, cacheTokens: Int)

    public var description: String {
        switch self {
        case .corruptBatchMessage(let n): return "corrupt batch broadcast from rank 0 (\(n) bytes)"
        case .cacheTooSmall(let t, let c): return "prompt of \(t) tokens exceeds the prefill KV cache (\(c) tokens)"
        }
    }
}
