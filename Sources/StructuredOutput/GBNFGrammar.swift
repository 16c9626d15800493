/// A GBNF grammar (`GBNFSyntax`) laid out for matching as llama.cpp's grammar engine does: every rule's
/// alternatives one after another in `elements`, each ending in `.end`; a parse is a set of stacks of
/// positions in them (`GBNFMatcher`).
public struct GBNFGrammar: Sendable {
    enum Element: Equatable, Sendable {
        case chars(Int32)    // an index into `classes`
        case rule(Int32)     // an index into `alternatives`
        case end             // the end of an alternative
    }

    let elements: [Element]
    let classes: [CodePointClass]
    /// [rule] where each of its alternatives starts in `elements`.
    let alternatives: [[Int32]]
    let root: Int

    /// `text` parsed and checked as llama.cpp's llama_grammar_init_impl does: a `root` rule, every rule
    /// defined, no left recursion.
    public init(_ text: String) throws(GrammarError) {
        let (rules, names) = try GBNFSyntax.parse(text)
        guard let root = names.firstIndex(of: "root") else {
            throw GrammarError(line: nil, column: nil, reason: "the grammar has no root rule")
        }
        if let r = Self.leftRecursiveRule(rules) {
            throw GrammarError(line: nil, column: nil, reason: "rule '\(names[r])' is left-recursive, which llama.cpp's grammars do not serve either")
        }
        if let r = Self.leftRecursiveThroughEmptyRules(rules) {
            throw GrammarError(line: nil, column: nil, reason: "rule '\(names[r])' is left-recursive through rules that may be empty")
        }
        var elements: [Element] = []
        var classes: [CodePointClass] = []
        var classIDs: [CodePointClass: Int32] = [:]
        var alternatives: [[Int32]] = []
        for rule in rules {
            var starts: [Int32] = []
            for alternative in rule {
                starts.append(Int32(elements.count))
                for symbol in alternative {
                    switch symbol {
                    case .rule(let r): elements.append(.rule(Int32(r)))
                    case .chars(let c):
                        let id = classIDs[c] ?? {
                            classes.append(c)
                            classIDs[c] = Int32(classes.count - 1)
                            return Int32(classes.count - 1)
                        }()
                        elements.append(.chars(id))
                    }
                }
                elements.append(.end)
            }
            alternatives.append(starts)
        }
        self.elements = elements
        self.classes = classes
        self.alternatives = alternatives
        self.root = root
        // A start past the matcher's bounds would take nothing: refused here rather than sampled from.
        guard GBNFMatcher(self).startsAlive else {
            throw GrammarError(line: nil, column: nil, reason: "root starts more than \(GBNFMatcher.maxStacksPerSet) parses at once (the matcher's bound)")
        }
    }

    /// llama.cpp's llama_grammar_detect_left_recursion, rule by rule in the same order, so that the same
    /// grammars are refused: a rule reached again through the leftmost symbols of its alternatives, where
    /// a rule is passed over when one of its alternatives is empty. Depth-first with a stack of its own (a
    /// chain of rules as long as the text allows must not take the thread's stack): each frame is a rule
    /// and the (alternative, symbol) it looks at next.
    private static func leftRecursiveRule(_ rules: [[[GrammarSymbol]]]) -> Int? {
        var visited = [Bool](repeating: false, count: rules.count)
        var inProgress = visited
        var mayBeEmpty = visited
        for root in rules.indices where !visited[root] {
            var frames: [(rule: Int, alternative: Int, symbol: Int)] = []
            func enter(_ r: Int) {
                inProgress[r] = true
                if rules[r].contains(where: \.isEmpty) { mayBeEmpty[r] = true }
                frames.append((r, 0, 0))
            }
            enter(root)
            while let (r, a, k) = frames.last {
                // The next leftmost rule reference of rule r's alternatives, from alternative a, symbol k on.
                if a == rules[r].count {
                    inProgress[r] = false
                    visited[r] = true
                    frames.removeLast()
                    if let caller = frames.last {
                        // Back in the caller: past this symbol only when the rule may be empty.
                        let f = frames.count - 1
                        if mayBeEmpty[r] { frames[f].symbol += 1 } else { frames[f] = (caller.rule, caller.alternative + 1, 0) }
                    }
                    continue
                }
                guard k < rules[r][a].count, case .rule(let next) = rules[r][a][k] else {
                    frames[frames.count - 1] = (r, a + 1, 0)
                    continue
                }
                if inProgress[next] { return root }
                if visited[next] {
                    frames[frames.count - 1] = mayBeEmpty[next] ? (r, a, k + 1) : (r, a + 1, 0)
                    continue
                }
                enter(next)
            }
        }
        return nil
    }

    /// What llama.cpp's check misses: a rule reached again from its own leftmost symbols where the rules
    /// before are empty only by way of other rules (`b ::= c`, `c ::= "" | "z"`), through a reference that
    /// keeps a frame (something follows it). The stacks then grow without end — llama.cpp never returns —
    /// where ours would meet their bounds mid-text, so such grammars are refused whole. A cycle of tail
    /// references only (`( [x]* )*`) repeats the same stacks and is served, as llama.cpp serves it. Rules
    /// that may be empty by a fixed point; the "may start with" graph's strongly connected components
    /// (Tarjan's, iterative); a frame-keeping edge inside one is the recursion.
    private static func leftRecursiveThroughEmptyRules(_ rules: [[[GrammarSymbol]]]) -> Int? {
        let n = rules.count
        var empty = [Bool](repeating: false, count: n)
        var changed = true
        while changed {
            changed = false
            for r in rules.indices where !empty[r] {
                let can = rules[r].contains { alternative in
                    alternative.allSatisfy { if case .rule(let s) = $0 { return empty[s] } else { return false } }
                }
                if can { empty[r] = true; changed = true }
            }
        }
        // [rule] the rules it may start with, past empty rules only; `frame`: a symbol follows the reference.
        let edges: [[(to: Int, frame: Bool)]] = rules.map { alternatives in
            var out: [(to: Int, frame: Bool)] = []
            for alternative in alternatives {
                for (k, symbol) in alternative.enumerated() {
                    guard case .rule(let s) = symbol else { break }
                    out.append((s, k < alternative.count - 1))
                    if !empty[s] { break }
                }
            }
            return out
        }
        var index = [Int](repeating: -1, count: n), low = [Int](repeating: 0, count: n)
        var onStack = [Bool](repeating: false, count: n), component = [Int](repeating: -1, count: n)
        var stack: [Int] = [], counter = 0, components = 0
        for first in 0..<n where index[first] < 0 {
            var work: [(rule: Int, next: Int)] = []
            func visit(_ v: Int) {
                index[v] = counter; low[v] = counter; counter += 1
                stack.append(v); onStack[v] = true
                work.append((v, 0))
            }
            visit(first)
            while let (v, i) = work.last {
                if i < edges[v].count {
                    work[work.count - 1].next += 1
                    let w = edges[v][i].to
                    if index[w] < 0 { visit(w) } else if onStack[w] { low[v] = min(low[v], index[w]) }
                    continue
                }
                work.removeLast()
                if let caller = work.last { low[caller.rule] = min(low[caller.rule], low[v]) }
                if low[v] == index[v] {
                    while let w = stack.popLast() {
                        onStack[w] = false
                        component[w] = components
                        if w == v { break }
                    }
                    components += 1
                }
            }
        }
        for (u, out) in edges.enumerated() {
            if out.contains(where: { $0.frame && component[$0.to] == component[u] }) { return u }
        }
        return nil
    }
}

/// One sequence's walk of a GBNF grammar: the stacks of every parse still alive, interned, with each
/// (set of stacks, code point) step remembered, so the token mask's walk over the vocabulary — the same
/// few states again and again — costs a table lookup per byte once seen. A stack is a node (a position at
/// a code point class, and the node below it; −1 is the bottom); a set is sorted nodes, −1 standing for
/// the empty stack (the text is whole). Used by one sampler at a time.
public final class GBNFMatcher {
    let grammar: GBNFGrammar

    /// Bounds on what one sequence's walk may build, so that an ambiguous or deeply nested grammar cannot
    /// take the daemon's memory (≈ 30 MiB at most): past them a step is refused (the text can go no
    /// further); past `maxRememberedSteps` non-ASCII steps are computed each time rather than kept.
    static let maxNodes = 1 << 18
    static let maxSets = 1 << 14
    static let maxStacksPerSet = 4096
    static let maxSetMembers = 1 << 20      // stacks over all sets
    static let maxRememberedSteps = 1 << 16

    private var nodePosition: [Int32] = []
    private var nodeParent: [Int32] = []
    private var nodeIDs: [Int64: Int32] = [:]

    private var setMembers: [[Int32]] = []
    private var setIDs: [[Int32]: Int32] = [:]
    private var setMembersCount = 0
    /// [set] bit 0: the empty stack is in it (the text may end); bit 1: some stack is not empty.
    private var setFlags: [UInt8] = []
    /// [set] its row in `asciiNext`, or −1 before its first ASCII step.
    private var asciiRow: [Int32] = []
    /// [row × 128] the set after an ASCII code point: −2 not yet known, −1 refused.
    private var asciiNext: [Int32] = []
    /// (set << 21 | code point) → the set after it (−1 refused), past ASCII.
    private var otherNext: [Int64: Int32] = [:]

    // Scratch of one step.
    private var todo: [Int32] = []
    private var seen = Set<Int32>()
    private var found: [Int32] = []
    private var overflowed = false

    /// The set the walk starts from (every alternative of `root` expanded); −1 when that passed the bounds,
    /// which `GBNFGrammar.init` refuses, so a matcher of a grammar always has its start.
    private(set) var start: Int32 = -1
    var startsAlive: Bool { start >= 0 }

    public init(_ grammar: GBNFGrammar) {
        self.grammar = grammar
        beginStep()
        for a in grammar.alternatives[grammar.root] {
            expand(grammar.elements[Int(a)] == .end ? -1 : node(a, parent: -1))
        }
        start = finishStep()
    }

    /// The state before any byte.
    public var startState: GBNFState { GBNFState(set: start, canContinue: setFlags[Int(start)] & 2 != 0) }

    func canEnd(_ set: Int32) -> Bool { setFlags[Int(set)] & 1 != 0 }
    func hasStacks(_ set: Int32) -> Bool { setFlags[Int(set)] & 2 != 0 }

    private func node(_ position: Int32, parent: Int32) -> Int32 {
        let key = Int64(position) << 32 | Int64(UInt32(bitPattern: parent))
        if let id = nodeIDs[key] { return id }
        guard nodePosition.count < Self.maxNodes else { overflowed = true; return -1 }
        let id = Int32(nodePosition.count)
        nodePosition.append(position)
        nodeParent.append(parent)
        nodeIDs[key] = id
        return id
    }

    private func beginStep() {
        todo.removeAll(keepingCapacity: true)
        seen.removeAll(keepingCapacity: true)
        found.removeAll(keepingCapacity: true)
        overflowed = false
    }

    /// Adds to `found` every stack `top` becomes with a code point class on top (llama.cpp's
    /// llama_grammar_advance_stack): a rule reference is replaced by each of its alternatives, over the
    /// rest of its own alternative unless that is over (no frame is kept for a rule's last symbol).
    private func expand(_ top: Int32) {
        todo.append(top)
        while let n = todo.popLast() {
            guard !overflowed else { return }
            guard seen.insert(n).inserted else { continue }
            if n == -1 { found.append(-1); continue }
            let p = Int(nodePosition[Int(n)])
            switch grammar.elements[p] {
            case .chars: found.append(n)
            case .rule(let r):
                let parent = nodeParent[Int(n)]
                let rest = grammar.elements[p + 1] == .end ? parent : node(Int32(p + 1), parent: parent)
                for a in grammar.alternatives[Int(r)] {
                    todo.append(grammar.elements[Int(a)] == .end ? rest : node(a, parent: rest))
                }
            case .end: preconditionFailure("GBNFMatcher: a stack is never left at the end of an alternative")
            }
            if found.count > Self.maxStacksPerSet { overflowed = true }
        }
    }

    /// The set of what `found` holds, interned; −1 when nothing is alive (or a bound was passed).
    private func finishStep() -> Int32 {
        guard !overflowed, !found.isEmpty else { return -1 }
        found.sort()
        if let id = setIDs[found] { return id }
        guard setMembers.count < Self.maxSets, setMembersCount + found.count <= Self.maxSetMembers else { return -1 }
        setMembersCount += found.count
        let id = Int32(setMembers.count)
        let members = found
        setMembers.append(members)
        setIDs[members] = id
        setFlags.append((members.first == -1 ? 1 : 0) | (members.last! >= 0 ? 2 : 0))
        asciiRow.append(-1)
        return id
    }

    /// The set after code point `c`, or −1 when no stack takes it.
    func step(_ set: Int32, _ c: UInt32) -> Int32 {
        if c < 128 {
            var row = asciiRow[Int(set)]
            if row < 0 {
                row = Int32(asciiNext.count / 128)
                asciiRow[Int(set)] = row
                asciiNext.append(contentsOf: repeatElement(-2, count: 128))
            }
            let slot = Int(row) * 128 + Int(c)
            let known = asciiNext[slot]
            if known != -2 { return known }
            let next = computeStep(set, c)
            asciiNext[slot] = next
            return next
        }
        let key = Int64(set) << 21 | Int64(c)
        if let known = otherNext[key] { return known }
        let next = computeStep(set, c)
        if otherNext.count < Self.maxRememberedSteps { otherNext[key] = next }
        return next
    }

    private func computeStep(_ set: Int32, _ c: UInt32) -> Int32 {
        beginStep()
        for n in setMembers[Int(set)] where n >= 0 {
            let p = Int(nodePosition[Int(n)])
            guard case .chars(let k) = grammar.elements[p], grammar.classes[Int(k)].contains(c) else { continue }
            let parent = nodeParent[Int(n)]
            expand(grammar.elements[p + 1] == .end ? parent : node(Int32(p + 1), parent: parent))
        }
        return finishStep()
    }

    /// Some stack of `set` takes a code point of `low...high` (a UTF-8 sequence not yet whole).
    func mayTake(_ set: Int32, _ low: UInt32, _ high: UInt32) -> Bool {
        for n in setMembers[Int(set)] where n >= 0 {
            guard case .chars(let k) = grammar.elements[Int(nodePosition[Int(n)])] else { continue }
            if grammar.classes[Int(k)].intersects(low, high) { return true }
        }
        return false
    }
}

/// Where a GBNF walk is: its set of stacks, and a UTF-8 sequence begun but not yet whole (grammars
/// match code points; tokens may end inside one).
public struct GBNFState: ByteGrammar, Equatable {
    private(set) var set: Int32
    private var value: UInt32 = 0        // the code point's bits so far
    private var remaining: UInt8 = 0     // continuation bytes still to come
    private var length: UInt8 = 0        // continuation bytes in all (what the smallest code point is)
    public private(set) var canContinue: Bool

    init(set: Int32, canContinue: Bool) {
        self.set = set
        self.canContinue = canContinue
    }

    /// The smallest code point a sequence with `length` continuation bytes may encode.
    private static func smallest(_ length: UInt8) -> UInt32 { length == 1 ? 0x80 : length == 2 ? 0x800 : 0x10000 }

    public mutating func accept(_ byte: UInt8, in matcher: GBNFMatcher) -> Bool {
        if remaining == 0 {
            if byte < 0x80 { return take(UInt32(byte), matcher) }
            let count: UInt8
            switch byte {
            case 0xC2...0xDF: count = 1
            case 0xE0...0xEF: count = 2
            case 0xF0...0xF4: count = 3
            default: return false
            }
            return begun(value: UInt32(byte) & (0x7F >> (count + 1)), remaining: count, length: count, matcher)
        }
        guard byte & 0xC0 == 0x80 else { return false }
        let bits = value << 6 | UInt32(byte & 0x3F)
        if remaining == 1 {
            guard bits >= Self.smallest(length), bits <= 0x10FFFF, !(0xD800...0xDFFF).contains(bits),
                  take(bits, matcher) else { return false }
            value = 0; remaining = 0; length = 0
            return true
        }
        return begun(value: bits, remaining: remaining - 1, length: length, matcher)
    }

    /// A UTF-8 sequence with `remaining` bytes to come: taken if some code point it may still become is.
    private mutating func begun(value: UInt32, remaining: UInt8, length: UInt8, _ matcher: GBNFMatcher) -> Bool {
        let shift = UInt32(remaining) * 6
        let low = max(value << shift, Self.smallest(length))
        var high = min(value << shift | (1 << shift - 1), 0x10FFFF)
        // No surrogate is a code point: 0xED's range [D000, DFFF] stops at D7FF, and 0xED 0xA0… takes none.
        if low >= 0xD800 && high <= 0xDFFF { return false }
        if low < 0xD800 && high >= 0xD800 && high <= 0xDFFF { high = 0xD7FF }
        guard low <= high, matcher.mayTake(set, low, high) else { return false }
        self.value = value
        self.remaining = remaining
        self.length = length
        canContinue = true
        return true
    }

    private mutating func take(_ c: UInt32, _ matcher: GBNFMatcher) -> Bool {
        let next = matcher.step(set, c)
        guard next >= 0 else { return false }
        set = next
        canContinue = matcher.hasStacks(next)
        return true
    }

    public func canEnd(in matcher: GBNFMatcher) -> Bool { remaining == 0 && matcher.canEnd(set) }
    public var stringContentTaken: StringContent? { nil }
}
