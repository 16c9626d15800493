/// A regular expression (`RegexParser`'s syntax) compiled to a DFA over UTF-8 bytes that accepts exactly
/// the texts the pattern matches whole: a Thompson NFA over byte ranges (each character set written as
/// UTF-8 byte-range sequences), determinized over the byte classes the pattern tells apart, and every state
/// from which no match can be reached removed — so a byte the automaton takes always leaves a way to finish,
/// as the token mask needs.
public final class RegexAutomaton: Sendable {
    /// [states × classCount] the next state, or −1.
    let next: [Int32]
    /// [256] each byte's class.
    let classOf: [UInt8]
    let classCount: Int
    /// [states] a match may end here; more bytes may follow.
    let accepting: [Bool]
    let hasExits: [Bool]
    let start: Int32

    /// Bounds on a compiled pattern: NFA states, DFA states (each costs its subset's closure to build:
    /// the bound keeps a compile well under a second) and next-state table entries (states × byte
    /// classes: 8 MiB).
    public static let maxNFAStates = 100_000, maxStates = 16_384, maxTableEntries = 1 << 21
    /// NFA states visited while determinizing, at most: bounds a pattern's compile time (≈ 0.1 s) as the
    /// state counts alone do not.
    static let maxWork = 5_000_000

    public convenience init(pattern: String) throws(RegexError) {
        try self.init(RegexParser.parse(pattern))
    }

    /// The texts in which the pattern finds a match anywhere — a JSON Schema `pattern` (ECMA-262's reading,
    /// unanchored) — unless anchored by a leading `^` / `\A` (at the start) or a trailing `$` / `\Z` (at
    /// the end: ECMA-262's `$`, where Python's would also match before a final newline).
    public convenience init(search pattern: String) throws(RegexError) {
        let scalars = Array(pattern.unicodeScalars)
        let atStart = pattern.hasPrefix("^") || pattern.hasPrefix("\\A")
        // A trailing $ or \Z not itself escaped (an even run of backslashes before it).
        func escapedAtEnd(dropping n: Int) -> Bool {
            var backslashes = 0
            for c in scalars.dropLast(n).reversed() { if c == "\\" { backslashes += 1 } else { break } }
            return backslashes % 2 == 1
        }
        let dollar = scalars.last == "$" && !escapedAtEnd(dropping: 1)
        let bigZ = scalars.count >= 2 && scalars.last == "Z" && scalars[scalars.count - 2] == "\\" && !escapedAtEnd(dropping: 2)
        let root = try RegexParser.parse(pattern)
        if case .alternatives = root, atStart || dollar || bigZ {
            throw RegexError(position: nil, reason: "an anchored pattern with a top-level | is not supported: put the alternatives in a group")
        }
        let anything = RegexNode.repeated(.scalars(ScalarSet([0...ScalarSet.maxScalar])), min: 0, max: nil)
        let end: RegexNode = dollar || bigZ ? .sequence([]) : anything
        try self.init(.sequence([atStart ? .sequence([]) : anything, root, end]))
    }

    init(_ node: RegexNode) throws(RegexError) {
        var nfa = NFA()
        let (s, e) = try nfa.fragment(node)
        (next, classOf, classCount, accepting, hasExits, start) = try Self.determinize(nfa, start: s, accept: e)
    }

    var stateCount: Int { accepting.count }

    /// Whether the whole of `bytes` is a match.
    public func matches(_ bytes: [UInt8]) -> Bool {
        var state = RegexState(self)
        for b in bytes where !state.accept(b, in: self) { return false }
        return state.canEnd(in: self)
    }

    private static func determinize(_ nfa: NFA, start: Int32, accept: Int32) throws(RegexError)
        -> ([Int32], [UInt8], Int, [Bool], [Bool], Int32) {
        // Byte classes: bytes no range of the NFA tells apart.
        var boundary = [Bool](repeating: false, count: 257)
        boundary[0] = true
        for edges in nfa.edges { for e in edges { boundary[Int(e.low)] = true; boundary[Int(e.high) + 1] = true } }
        var classOf = [UInt8](repeating: 0, count: 256)
        var representative: [UInt8] = []
        for b in 0..<256 {
            if boundary[b] { representative.append(UInt8(b)) }
            classOf[b] = UInt8(representative.count - 1)
        }
        let classCount = representative.count

        var ids: [[Int32]: Int32] = [:]
        var sets: [[Int32]] = []
        var table: [Int32] = []
        func id(of set: [Int32]) throws(RegexError) -> Int32 {
            if let known = ids[set] { return known }
            guard sets.count < maxStates && (sets.count + 1) * classCount <= maxTableEntries else {
                throw RegexError(position: nil, reason: "the pattern needs more than \(min(maxStates, maxTableEntries / classCount)) automaton states")
            }
            let new = Int32(sets.count)
            ids[set] = new
            sets.append(set)
            return new
        }
        var work = 0
        var mark = [UInt32](repeating: 0, count: nfa.edges.count), stamp: UInt32 = 0
        var stack: [Int32] = []
        /// The states reachable from `states` without a byte, sorted.
        func closure(_ states: [Int32]) throws(RegexError) -> [Int32] {
            stamp += 1
            var set: [Int32] = []
            stack.removeAll(keepingCapacity: true)
            for s in states where mark[Int(s)] != stamp { mark[Int(s)] = stamp; stack.append(s) }
            while let s = stack.popLast() {
                set.append(s)
                for t in nfa.epsilons[Int(s)] where mark[Int(t)] != stamp { mark[Int(t)] = stamp; stack.append(t) }
            }
            set.sort()
            work += set.count
            guard work <= maxWork else { throw RegexError(position: nil, reason: "the pattern is too large to compile (its automaton grows past \(maxWork) steps)") }
            return set
        }
        let startID = try id(of: closure([start]))
        var targets: [[Int32]] = Array(repeating: [], count: classCount)
        var done = 0
        while done < sets.count {
            let set = sets[done]
            done += 1
            for c in 0..<classCount { targets[c].removeAll(keepingCapacity: true) }
            for s in set {
                for e in nfa.edges[Int(s)] {
                    for c in Int(classOf[Int(e.low)])...Int(classOf[Int(e.high)]) { targets[c].append(e.to) }
                }
            }
            for c in 0..<classCount {
                table.append(targets[c].isEmpty ? -1 : try id(of: closure(targets[c])))
            }
        }
        let count = sets.count
        var accepting = sets.map { $0.contains(accept) }
        // Live states: those from which an accepting state is reachable.
        var incoming = [[Int32]](repeating: [], count: count)
        for s in 0..<count {
            for c in 0..<classCount where table[s * classCount + c] >= 0 { incoming[Int(table[s * classCount + c])].append(Int32(s)) }
        }
        var live = accepting
        var pending = (0..<count).filter { accepting[$0] }
        while let s = pending.popLast() {
            for p in incoming[s] where !live[Int(p)] { live[Int(p)] = true; pending.append(Int(p)) }
        }
        guard live[Int(startID)] else { throw RegexError(position: nil, reason: "the pattern matches no text") }
        for k in table.indices where table[k] >= 0 && !live[Int(table[k])] { table[k] = -1 }
        let hasExits = (0..<count).map { s in (0..<classCount).contains { table[s * classCount + $0] >= 0 } }
        for s in 0..<count where !live[s] { accepting[s] = false }
        return (table, classOf, classCount, accepting, hasExits, startID)
    }
}

extension RegexAutomaton {
    /// [states] each state's transitions backwards, weighted 1 on a character's first byte and 0 on a
    /// continuation byte, and how many transitions leave each state.
    private func weightedIncoming() -> (incoming: [[(from: Int32, weight: Int32)]], outgoing: [Int]) {
        let count = stateCount
        // A class's bytes are all first bytes or all continuation bytes (its ranges are whole UTF-8
        // blocks), except a class no transition uses.
        var weight = [Int32](repeating: 1, count: classCount)
        for b in 0x80...0xBF { weight[Int(classOf[b])] = 0 }
        var incoming = [[(from: Int32, weight: Int32)]](repeating: [], count: count)
        var outgoing = [Int](repeating: 0, count: count)
        for s in 0..<count {
            for c in 0..<classCount where next[s * classCount + c] >= 0 {
                incoming[Int(next[s * classCount + c])].append((Int32(s), weight[c]))
                outgoing[s] += 1
            }
        }
        return (incoming, outgoing)
    }

    /// [states] the fewest and the most characters (UTF-8 first bytes) that take each state to a match;
    /// `Int32.max` for the most when a loop is on the way (every state reaches a match, so any reachable
    /// loop makes completions unbounded). What a length bound beside a pattern is checked against.
    func completionLengths() -> (shortest: [Int32], longest: [Int32]) {
        let count = stateCount
        let edges = weightedIncoming()
        let incoming = edges.incoming
        var outgoing = edges.outgoing
        // Shortest: a 0-1 breadth-first search backwards from the accepting states.
        var shortest = [Int32](repeating: .max, count: count)
        var front: [Int32] = [], back: [Int32] = []   // a deque as two stacks: `front` pops first
        for s in 0..<count where accepting[s] { shortest[s] = 0; back.append(Int32(s)) }
        while true {
            if front.isEmpty { front = back.reversed(); back.removeAll(keepingCapacity: true) }
            guard let t = front.popLast() else { break }
            for (p, w) in incoming[Int(t)] where shortest[Int(t)] + w < shortest[Int(p)] {
                shortest[Int(p)] = shortest[Int(t)] + w
                if w == 0 { front.append(p) } else { back.append(p) }
            }
        }
        // Longest: states are taken once all their successors are (Kahn's order, backwards); a state
        // never taken reaches a loop.
        var longest = accepting.map { $0 ? Int32(0) : Int32.min }
        var finished = [Bool](repeating: false, count: count)
        var ready = (0..<count).filter { outgoing[$0] == 0 }.map(Int32.init)
        while let t = ready.popLast() {
            finished[Int(t)] = true
            for (p, w) in incoming[Int(t)] {
                longest[Int(p)] = max(longest[Int(p)], longest[Int(t)] &+ w)
                outgoing[Int(p)] -= 1
                if outgoing[Int(p)] == 0 { ready.append(p) }
            }
        }
        for s in 0..<count where !finished[s] { longest[s] = .max }
        return (shortest, longest)
    }

    /// [states × words] bit k of state s's words: a match can be completed with exactly k more characters,
    /// for k in 0...limit (what two length bounds beside a pattern are checked against); nil when that
    /// would take more than `maxWork` steps.
    func completionLengthSets(upTo limit: Int) -> (bits: [UInt64], words: Int)? {
        let count = stateCount
        let (incoming, outgoing) = weightedIncoming()
        guard (limit + 1) * (outgoing.reduce(0, +) + count) <= Self.maxWork else { return nil }
        let words = limit / 64 + 1
        var bits = [UInt64](repeating: 0, count: count * words)
        // Layer k: the states with a completion of exactly k characters; a layer is closed backwards over
        // continuation bytes (they finish a character the layer already counts).
        var layer = (0..<count).filter { accepting[$0] }.map(Int32.init)
        var inLayer = [Bool](repeating: false, count: count)
        for k in 0...limit {
            for s in layer { inLayer[Int(s)] = true }
            var i = 0
            while i < layer.count {
                for (p, w) in incoming[Int(layer[i])] where w == 0 && !inLayer[Int(p)] { inLayer[Int(p)] = true; layer.append(p) }
                i += 1
            }
            for s in layer { bits[Int(s) * words + k / 64] |= 1 << UInt64(k % 64) }
            var nextLayer: [Int32] = []
            for s in layer { inLayer[Int(s)] = false }
            for t in layer {
                for (p, w) in incoming[Int(t)] where w == 1 && !inLayer[Int(p)] { inLayer[Int(p)] = true; nextLayer.append(p) }
            }
            for s in nextLayer { inLayer[Int(s)] = false }
            layer = nextLayer
        }
        return (bits, words)
    }
}

/// A walk of a `RegexAutomaton`: the state after the bytes so far.
public struct RegexState: ByteGrammar {
    private(set) var state: Int32
    public private(set) var canContinue: Bool

    public init(_ automaton: RegexAutomaton) {
        state = automaton.start
        canContinue = automaton.hasExits[Int(automaton.start)]
    }

    public mutating func accept(_ byte: UInt8, in automaton: RegexAutomaton) -> Bool {
        let next = automaton.next[Int(state) &* automaton.classCount &+ Int(automaton.classOf[Int(byte)])]
        guard next >= 0 else { return false }
        state = next
        canContinue = automaton.hasExits[Int(next)]
        return true
    }

    public func canEnd(in automaton: RegexAutomaton) -> Bool { automaton.accepting[Int(state)] }
    public var stringContentTaken: StringContent? { nil }
}

/// Thompson's construction over byte ranges.
private struct NFA {
    struct Edge { let low: UInt8, high: UInt8, to: Int32 }
    var edges: [[Edge]] = []
    var epsilons: [[Int32]] = []

    mutating func state() throws(RegexError) -> Int32 {
        guard edges.count < RegexAutomaton.maxNFAStates else {
            throw RegexError(position: nil, reason: "the pattern is too large (more than \(RegexAutomaton.maxNFAStates) automaton states before determinization)")
        }
        edges.append([])
        epsilons.append([])
        return Int32(edges.count - 1)
    }

    /// A fragment matching `node`: its start and end states.
    mutating func fragment(_ node: RegexNode) throws(RegexError) -> (Int32, Int32) {
        let start = try state(), end = try state()
        switch node {
        case .scalars(let set):
            // Sequences that end alike share their tail states (`.`'s continuation bytes are one chain
            // whatever the lead byte), which keeps the DFA near one state per (position, bytes to go).
            var tails: [[ClosedRange<UInt8>]: Int32] = [[]: end]
            func tail(_ ranges: ArraySlice<ClosedRange<UInt8>>) throws(RegexError) -> Int32 {
                if let known = tails[Array(ranges)] { return known }
                let rest = try tail(ranges.dropFirst())
                let s = try state()
                edges[Int(s)].append(Edge(low: ranges.first!.lowerBound, high: ranges.first!.upperBound, to: rest))
                tails[Array(ranges)] = s
                return s
            }
            for sequence in UTF8Ranges.sequences(of: set) {
                let to = try tail(sequence.dropFirst())
                edges[Int(start)].append(Edge(low: sequence[0].lowerBound, high: sequence[0].upperBound, to: to))
            }
        case .sequence(let items):
            var at = start
            for item in items {
                let (s, e) = try fragment(item)
                epsilons[Int(at)].append(s)
                at = e
            }
            epsilons[Int(at)].append(end)
        case .alternatives(let options):
            for option in options {
                let (s, e) = try fragment(option)
                epsilons[Int(start)].append(s)
                epsilons[Int(e)].append(end)
            }
        case let .repeated(inner, min, max):
            var at = start
            for _ in 0..<min {
                let (s, e) = try fragment(inner)
                epsilons[Int(at)].append(s)
                at = e
            }
            if let max {
                // Each optional copy may be skipped straight to the end.
                for _ in min..<max {
                    let (s, e) = try fragment(inner)
                    epsilons[Int(at)].append(s)
                    epsilons[Int(at)].append(end)
                    at = e
                }
                epsilons[Int(at)].append(end)
            } else {
                let (s, e) = try fragment(inner)
                epsilons[Int(at)].append(s)
                epsilons[Int(at)].append(end)
                epsilons[Int(e)].append(s)
                epsilons[Int(e)].append(end)
            }
        }
        return (start, end)
    }
}

/// A set of Unicode scalars as the UTF-8 byte sequences that write them: each sequence a list of byte
/// ranges, one per byte (the split of RE2 and Rust's regex-syntax: ranges cut at encoded-length edges,
/// then wherever a continuation byte would not cover 0x80...0xBF whole).
enum UTF8Ranges {
    static func sequences(of set: ScalarSet) -> [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        for r in set.ranges { split(r.lowerBound, r.upperBound, into: &out) }
        return out
    }

    private static let lengthEdges: [UInt32] = [0x7F, 0x7FF, 0xFFFF]

    private static func split(_ low: UInt32, _ high: UInt32, into out: inout [[ClosedRange<UInt8>]]) {
        guard low <= high else { return }
        for edge in lengthEdges where low <= edge && high > edge {
            split(low, edge, into: &out)
            split(edge + 1, high, into: &out)
            return
        }
        let n = encodedLength(low)
        if n > 1 {
            for k in 1..<n {
                let m: UInt32 = (1 << (6 * UInt32(k))) - 1
                if low & ~m != high & ~m {
                    if low & m != 0 {
                        split(low, low | m, into: &out)
                        split((low | m) + 1, high, into: &out)
                        return
                    }
                    if high & m != m {
                        split(low, (high & ~m) - 1, into: &out)
                        split(high & ~m, high, into: &out)
                        return
                    }
                }
            }
        }
        let a = encode(low), b = encode(high)
        out.append((0..<a.count).map { a[$0]...b[$0] })
    }

    private static func encodedLength(_ c: UInt32) -> Int { c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4 }

    static func encode(_ c: UInt32) -> [UInt8] {
        switch encodedLength(c) {
        case 1: return [UInt8(c)]
        case 2: return [UInt8(0xC0 | c >> 6), UInt8(0x80 | c & 0x3F)]
        case 3: return [UInt8(0xE0 | c >> 12), UInt8(0x80 | (c >> 6) & 0x3F), UInt8(0x80 | c & 0x3F)]
        default: return [UInt8(0xF0 | c >> 18), UInt8(0x80 | (c >> 12) & 0x3F), UInt8(0x80 | (c >> 6) & 0x3F), UInt8(0x80 | c & 0x3F)]
        }
    }
}
