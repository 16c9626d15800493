import Basics
import Foundation
import Tokenizer

public enum ChoiceError: Error, CustomStringConvertible, Equatable {
    case noChoices
    case emptyChoice
    case tooLarge
    case notSpellable(String)

    public var description: String {
        switch self {
        case .noChoices: return "choice must be a non-empty list of strings"
        case .emptyChoice: return "a choice must not be empty"
        case .tooLarge: return "the choices may hold at most \(ModelText.maxChoiceBytes) bytes together"
        case .notSpellable(let s): return "the vocabulary cannot spell the choice \(s.debugDescription)"
        }
    }
}

extension ModelText {
    /// Bytes all choices of one request may hold together (the automaton has at most as many nodes).
    public static let maxChoiceBytes = 1 << 16

    /// A choice constraint as token paths (vLLM's structured output `choice`) over token ids below
    /// `vocabSize`: every way the vocabulary's non-special tokens spell one of `choices`, not only the
    /// tokenizer's own split, as a grammar-constrained decoder allows them. Node 0 is the empty prefix;
    /// the nodes are the choices' byte prefixes that tokens reach and from which a choice can still be
    /// finished; a node whose prefix is a whole choice accepts (the model's EOS may end it there).
    public func choiceAutomaton(_ choices: [String], vocabSize: Int) throws -> TokenAutomaton {
        guard !choices.isEmpty else { throw ChoiceError.noChoices }
        let targets = choices.map { Array($0.utf8) }
        guard targets.allSatisfy({ !$0.isEmpty }) else { throw ChoiceError.emptyChoice }
        guard targets.reduce(0, { $0 + $1.count }) <= Self.maxChoiceBytes else { throw ChoiceError.tooLarge }
        let index = tokenBytes(vocabSize: vocabSize)
        // Nodes by prefix, breadth first from the empty one: each edge is a token whose bytes continue
        // the prefix along some choice.
        var node: [[UInt8]: Int] = [[]: 0]
        var prefixes: [[UInt8]] = [[]]
        var edges: [(from: Int, token: Int, to: Int)] = []
        var next = 0
        while next < prefixes.count {
            let prefix = prefixes[next]
            var seen = Set<Int>()
            for choice in targets where choice.count > prefix.count && choice.starts(with: prefix) {
                for length in 1...min(index.longest, choice.count - prefix.count) {
                    let piece = Array(choice[prefix.count..<prefix.count + length])
                    for t in index.tokens[piece] ?? [] where seen.insert(t).inserted {
                        let reached = prefix + piece
                        let target = node[reached] ?? {
                            node[reached] = prefixes.count
                            prefixes.append(reached)
                            return prefixes.count - 1
                        }()
                        edges.append((next, t, target))
                    }
                }
            }
            next += 1
        }
        // Keep what can still finish a choice: walk back from the accepting nodes.
        let whole = Set(targets)
        var live = [Bool](repeating: false, count: prefixes.count)
        for (i, p) in prefixes.enumerated() where whole.contains(p) { live[i] = true }
        var changed = true
        while changed {
            changed = false
            for e in edges where live[e.to] && !live[e.from] {
                live[e.from] = true
                changed = true
            }
        }
        for (choice, text) in zip(targets, choices) where node[choice] == nil { throw ChoiceError.notSpellable(text) }
        var automaton = TokenAutomaton()
        for e in edges where live[e.from] && live[e.to] {
            automaton.from.append(e.from)
            automaton.token.append(e.token)
            automaton.to.append(e.to)
        }
        automaton.accepting = prefixes.indices.filter { whole.contains(prefixes[$0]) }
        return automaton
    }
}
