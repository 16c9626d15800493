/// A deterministic automaton over token ids: node 0 starts; edge i goes from `from[i]` on `token[i]` to
/// `to[i]`; at an accepting node the model's EOS may end the sequence. A choice constraint (vLLM's
/// structured output `choice`) is one: every tokenization of every choice, built where the vocabulary is
/// (ModelText.choiceAutomaton), carried by the wire (proto TokenAutomaton), walked by the sampler.
public struct TokenAutomaton: Sendable, Equatable, Codable {
    public var from: [Int], token: [Int], to: [Int], accepting: [Int]

    public init(from: [Int] = [], token: [Int] = [], to: [Int] = [], accepting: [Int] = []) {
        self.from = from
        self.token = token
        self.to = to
        self.accepting = accepting
    }

    /// Nodes: 0 and every one an edge or `accepting` names.
    public var nodeCount: Int { max(from.max() ?? 0, to.max() ?? 0, accepting.max() ?? 0) + 1 }
}
