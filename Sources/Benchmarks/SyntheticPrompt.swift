/// A deterministic prompt of `count` token ids in [2, vocab): the same every run.
func syntheticPrompt(count: Int, vocab: Int, seed: UInt64 = 0x5EED) -> [Int32] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int32(2 + Int((state >> 33) % UInt64(vocab - 2)))
    }
}
