/// A compiled pattern with Oniguruma's leftmost-first backtracking semantics, matching over Unicode
/// scalars. Built for the tokenizer pre-tokenizer patterns (GPT-2 / Llama-3 / DeepSeek style); anything
/// else is refused at compile time by name.
public final class OnigRegex: @unchecked Sendable {
    enum Instruction {
        case char(UInt32)
        case set(Int)                                   // class index
        case span(Int, min: Int, max: Int, kind: RegexNode.RepetitionKind)  // single-scalar repeat
        /// Try the first, backtrack to the second. `guard` ≥ 0: a class index holding every scalar the
        /// first branch can begin with; when the next scalar is not in it, the first branch cannot match.
        case split(Int, Int, guard: Int)
        case jump(Int)
        case look(Int, negated: Bool)                   // sub-program index
        case anchor(RegexNode.Anchor)
        case match
    }

    public let pattern: String
    private var programs: [[Instruction]] = []          // [0] is the main program
    private var classes: [CompiledClass] = []
    private var firstScalars: Int?                      // class index; nil: a match may start anywhere
    // Flattened for matching: all programs back to back (absolute targets), and the class bitmaps as
    // a two-level table: per class and 256-scalar block an index into a pool of distinct blocks
    // (most blocks are all-out or all-in, so the pool stays small enough for the L1 cache).
    private var code = UnsafeMutablePointer<Instruction>.allocate(capacity: 1)
    private var blockIndex = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)   // [classes, blocksPerClass]
    private var blockPool = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)    // [distinct blocks, 4]
    private static let blocksPerClass = Int(CompiledClass.bitmapScalars >> 8)

    public init(_ pattern: String) throws {
        self.pattern = pattern
        let tree = try RegexParser.parse(pattern)
        programs.append([])
        var main: [Instruction] = []
        try compile(tree, into: &main)
        main.append(.match)
        programs[0] = main
        let first = OnigRegex.firstSet(tree)
        if !first.nullable { firstScalars = classIndex(CharacterClass(items: first.items.map { .nested($0) })) }
        flatten()
    }

    deinit {
        code.deallocate()
        blockIndex.deallocate()
        blockPool.deallocate()
    }

    /// Programs → one instruction array with absolute jump targets; class bitmaps → one word array.
    private func flatten() {
        var starts: [Int] = []
        var total = 0
        for p in programs { starts.append(total); total += p.count }
        code.deallocate()
        code = .allocate(capacity: total)
        for (k, p) in programs.enumerated() {
            let o = starts[k]
            for (i, inst) in p.enumerated() {
                let relocated: Instruction
                switch inst {
                case let .split(a, b, g): relocated = .split(a + o, b + o, guard: g)
                case let .jump(a): relocated = .jump(a + o)
                case let .look(sub, negated): relocated = .look(starts[sub], negated: negated)
                default: relocated = inst
                }
                (code + o + i).initialize(to: relocated)
            }
        }
        struct Block: Hashable { let words: (UInt64, UInt64, UInt64, UInt64)
            static func == (a: Block, b: Block) -> Bool { a.words == b.words }
            func hash(into h: inout Hasher) { h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3) }
        }
        var pool: [UInt64] = []
        var poolIndex: [Block: UInt32] = [:]
        var index: [UInt32] = []
        index.reserveCapacity(classes.count * Self.blocksPerClass)
        for cls in classes {
            for b in 0..<Self.blocksPerClass {
                let block = Block(words: (cls.bits[4 * b], cls.bits[4 * b + 1], cls.bits[4 * b + 2], cls.bits[4 * b + 3]))
                if let k = poolIndex[block] {
                    index.append(k)
                } else {
                    let k = UInt32(pool.count / 4)
                    poolIndex[block] = k
                    pool.append(block.words.0); pool.append(block.words.1); pool.append(block.words.2); pool.append(block.words.3)
                    index.append(k)
                }
            }
        }
        blockIndex.deallocate()
        blockIndex = .allocate(capacity: max(1, index.count))
        blockIndex.initialize(from: index, count: index.count)
        blockPool.deallocate()
        blockPool = .allocate(capacity: max(1, pool.count))
        blockPool.initialize(from: pool, count: pool.count)
    }

    @inline(__always) private func inClass(_ k: Int, _ c: UInt32) -> Bool {
        if c < CompiledClass.bitmapScalars {
            let block = Int(blockIndex[k * Self.blocksPerClass + Int(c >> 8)])
            return blockPool[4 * block + Int(c >> 6 & 3)] >> UInt64(c & 63) & 1 != 0
        }
        return classes[k].source.containsIgnoringCase(c)
    }

    // MARK: compilation

    private func classIndex(_ cls: CharacterClass) -> Int {
        classes.append(CompiledClass(cls))
        return classes.count - 1
    }

    /// Instructions one program may have once counted repeats are unrolled (nested `(…){n}` multiply).
    static let maxInstructions = 100_000

    private func compile(_ node: RegexNode, into code: inout [Instruction]) throws {
        guard code.count <= OnigRegex.maxInstructions else {
            throw unsupported("a pattern over \(OnigRegex.maxInstructions) instructions once its repeats are unrolled")
        }
        switch node {
        case .empty: break
        case let .char(c): code.append(.char(c))
        case let .set(cls): code.append(.set(classIndex(cls)))
        case let .concat(items): for item in items { try compile(item, into: &code) }
        case let .alternation(branches):
            var jumpsToEnd: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = code.count
                    code.append(.split(split + 1, -1, guard: -1))
                    try compile(branch, into: &code)
                    jumpsToEnd.append(code.count)
                    code.append(.jump(-1))
                    code[split] = .split(split + 1, code.count, guard: firstGuard(branch))
                } else {
                    try compile(branch, into: &code)
                }
            }
            for j in jumpsToEnd { code[j] = .jump(code.count) }
        case let .repetition(body, min, max, kind):
            if case let .char(c) = body {
                code.append(.span(classIndex(CharacterClass(items: [.range(c, c)])), min: min, max: max ?? Int.max, kind: kind))
                return
            }
            if case let .set(cls) = body {
                code.append(.span(classIndex(cls), min: min, max: max ?? Int.max, kind: kind))
                return
            }
            if kind == .possessive { throw unsupported("possessive quantifier on a group") }
            for _ in 0..<min { try compile(body, into: &code) }
            if let max {
                var exits: [Int] = []
                for _ in min..<max {
                    exits.append(code.count)
                    code.append(.split(-1, -1, guard: -1))
                    try compile(body, into: &code)
                }
                let end = code.count
                let bodyGuard = kind == .lazy ? -1 : firstGuard(body)
                for e in exits { code[e] = kind == .lazy ? .split(end, e + 1, guard: -1) : .split(e + 1, end, guard: bodyGuard) }
            } else {
                if OnigRegex.firstSet(body).nullable { throw unsupported("unbounded repeat of an expression that can match empty") }
                let loop = code.count
                code.append(.split(-1, -1, guard: -1))
                try compile(body, into: &code)
                code.append(.jump(loop))
                let end = code.count
                code[loop] = kind == .lazy ? .split(end, loop + 1, guard: -1) : .split(loop + 1, end, guard: firstGuard(body))
            }
        case let .lookahead(body, negated):
            var sub: [Instruction] = []
            try compile(body, into: &sub)
            sub.append(.match)
            programs.append(sub)
            code.append(.look(programs.count - 1, negated: negated))
        case let .anchor(a): code.append(.anchor(a))
        }
    }

    private func unsupported(_ what: String) -> TokenizerError {
        .unsupported(component: "regex construct \(what)", detail: "in pattern \(pattern.debugDescription.prefix(80))")
    }

    /// The class of scalars `node` can begin with, for a split's guard; -1 when it can match empty.
    private func firstGuard(_ node: RegexNode) -> Int {
        let first = OnigRegex.firstSet(node)
        return first.nullable ? -1 : classIndex(CharacterClass(items: first.items.map { .nested($0) }))
    }

    /// Scalars a match can start with, and whether the expression can match the empty string.
    private static func firstSet(_ node: RegexNode) -> (items: [CharacterClass], nullable: Bool) {
        switch node {
        case .empty, .anchor, .lookahead: return ([], true)
        case let .char(c): return ([CharacterClass(items: [.range(c, c)])], false)
        case let .set(cls): return ([cls], false)
        case let .concat(items):
            var acc: [CharacterClass] = []
            for item in items {
                let f = firstSet(item)
                acc += f.items
                if !f.nullable { return (acc, false) }
            }
            return (acc, true)
        case let .alternation(branches):
            var acc: [CharacterClass] = []
            var nullable = false
            for b in branches {
                let f = firstSet(b)
                acc += f.items
                nullable = nullable || f.nullable
            }
            return (acc, nullable)
        case let .repetition(body, min, _, _):
            let f = firstSet(body)
            return (f.items, f.nullable || min == 0)
        }
    }

    // MARK: matching

    struct Frame {
        var pc: Int32
        var kind: Int32      // 0 plain, 1 greedy span (bound = lowest end), 2 lazy span (bound = highest end)
        var pos: Int
        var bound: Int
    }

    /// The end of the match starting exactly at `start`, or nil.
    private func match(_ programStart: Int, _ text: UnsafeBufferPointer<UInt32>, at start: Int, stack: inout [Frame]) -> Int? {
        let n = text.count
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = programStart
        var pos = start
        while true {
            var failed = false
            switch code[pc] {
            case let .char(c):
                if pos < n, text[pos] == c { pos += 1; pc += 1 } else { failed = true }
            case let .set(k):
                if pos < n, inClass(k, text[pos]) { pos += 1; pc += 1 } else { failed = true }
            case let .span(k, min, max, kind):
                var j = pos
                let limit = max == Int.max ? n : Swift.min(n, pos + max)
                if kind == .lazy {
                    let minEnd = pos + min
                    while j < minEnd, j < n, inClass(k, text[j]) { j += 1 }
                    if j < minEnd { failed = true; break }
                    // Upper end reachable: scan on demand when backtracking.
                    var upper = j
                    while upper < limit, inClass(k, text[upper]) { upper += 1 }
                    if upper > j { stack.append(Frame(pc: Int32(pc + 1), kind: 2, pos: j + 1, bound: upper)) }
                    pos = j; pc += 1
                } else {
                    while j < limit, inClass(k, text[j]) { j += 1 }
                    if j - pos < min { failed = true; break }
                    if kind == .greedy, j - 1 >= pos + min {
                        stack.append(Frame(pc: Int32(pc + 1), kind: 1, pos: j - 1, bound: pos + min))
                    }
                    pos = j; pc += 1
                }
            case let .split(a, b, g):
                if g >= 0, pos >= n || !inClass(g, text[pos]) {
                    pc = b
                } else {
                    stack.append(Frame(pc: Int32(b), kind: 0, pos: pos, bound: 0))
                    pc = a
                }
            case let .jump(a): pc = a
            case let .look(sub, negated):
                let hit = match(sub, text, at: pos, stack: &stack) != nil
                if hit == negated { failed = true } else { pc += 1 }
            case let .anchor(a):
                let ok: Bool
                switch a {
                case .textStart: ok = pos == 0
                case .textEnd: ok = pos == n
                case .textEndOrFinalNewline: ok = pos == n || (pos == n - 1 && text[pos] == 0x0A)
                case .lineStart: ok = pos == 0 || text[pos - 1] == 0x0A
                case .lineEnd: ok = pos == n || text[pos] == 0x0A
                }
                if ok { pc += 1 } else { failed = true }
            case .match:
                return pos
            }
            if failed {
                guard stack.count > base else { return nil }
                let f = stack.removeLast()
                pc = Int(f.pc)
                pos = f.pos
                if f.kind == 1, f.pos - 1 >= f.bound {
                    stack.append(Frame(pc: f.pc, kind: 1, pos: f.pos - 1, bound: f.bound))
                } else if f.kind == 2, f.pos + 1 <= f.bound {
                    stack.append(Frame(pc: f.pc, kind: 2, pos: f.pos + 1, bound: f.bound))
                }
            }
        }
    }

    /// The leftmost match starting at or after `from`: (start, end) in scalar offsets.
    func firstMatch(in text: UnsafeBufferPointer<UInt32>, from: Int, stack: inout [Frame]) -> (Int, Int)? {
        var p = from
        let n = text.count
        while p <= n {
            if let first = firstScalars {
                while p < n, !inClass(first, text[p]) { p += 1 }
                if p == n { return nil }
            }
            if let end = match(0, text, at: p, stack: &stack) { return (p, end) }
            p += 1
        }
        return nil
    }

    /// All matches as rust-onig's `find_iter` yields them (an empty match right after the previous
    /// match is skipped by advancing one scalar), over scalar offsets.
    public func matches(in text: UnsafeBufferPointer<UInt32>) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var scratch = Scratch()
        matches(in: text, into: &out, scratch: &scratch)
        return out
    }

    /// Backtracking stack reused across calls.
    struct Scratch {
        var stack: [Frame] = []
        init() { stack.reserveCapacity(64) }
    }

    func matches(in text: UnsafeBufferPointer<UInt32>, into out: inout [(Int, Int)], scratch: inout Scratch) {
        var lastEnd = 0
        var lastMatchEnd: Int? = nil
        while lastEnd <= text.count {
            guard let (s, e) = firstMatch(in: text, from: lastEnd, stack: &scratch.stack) else { break }
            if s == e, lastMatchEnd == e {
                lastEnd += 1
                continue
            }
            lastEnd = e
            lastMatchEnd = e
            out.append((s, e))
            if s == e && e == text.count { break }
        }
    }

    public func matches(in scalars: [UInt32]) -> [(Int, Int)] {
        scalars.withUnsafeBufferPointer { matches(in: $0) }
    }
}
