import Foundation

// Expression evaluation with Python's operator semantics.

extension Renderer {
    func evaluate(_ e: Expr, _ scope: Scope) throws -> Value {
        switch e.kind {
        case .literal(let v): return v
        case .name(let n): return scope.lookup(n) ?? .undefined("'\(n)' is undefined")
        case .list(let items): return .array(try items.map { try evaluate($0, scope) })
        case .tuple(let items): return .tuple(try items.map { try evaluate($0, scope) })
        case .dict(let pairs):
            var o = OrderedDictionary()
            for (k, v) in pairs {
                let key = try evaluate(k, scope)
                guard OrderedDictionary.Key(key) != nil else {
                    throw ChatTemplateError.type("unhashable type: '\(key.pythonTypeName)' (line \(e.line))")
                }
                o[value: key] = try evaluate(v, scope)
            }
            return .object(o)
        case .attribute(let base, let name):
            return try Access.attribute(try evaluate(base, scope), name)
        case .item(let base, let key):
            return try Access.item(try evaluate(base, scope), try evaluate(key, scope))
        case .slice(let base, let start, let stop, let step):
            func opt(_ x: Expr?) throws -> Value? { try x.map { try evaluate($0, scope) } }
            return try Access.slice(try evaluate(base, scope), try opt(start), try opt(stop), try opt(step))
        case .call(let callee, let args):
            let function = try evaluate(callee, scope)
            let (positional, keyword) = try evaluateArguments(args, scope)
            return try invoke(function, positional, keyword, line: e.line)
        case .filter(let base, let name, let args):
            return try Filters.apply(name, to: try evaluate(base, scope), args, scope: scope, renderer: self)
        case .test(let base, let name, let args):
            let (positional, keyword) = try evaluateArguments(args, scope)
            return .bool(try Tests.run(name, try evaluate(base, scope), positional, keyword, renderer: self))
        case .not(let x): return .bool(!(try evaluate(x, scope).truthy))
        case .negate(let x): return try Operators.negate(try evaluate(x, scope))
        case .plus(let x):
            let v = try evaluate(x, scope)
            guard v.numeric != nil else { throw Operators.unsupported("unary +", v) }
            return v
        case .binary(let op, let l, let r):
            let (a, b) = (try evaluate(l, scope), try evaluate(r, scope))
            if op == .add, case .string(let x) = a, case .string(let y) = b, l.isMarkup || r.isMarkup {
                // markupsafe: `Markup + str` escapes the plain side (`"x"|safe + y`).
                return .string((l.isMarkup ? x : Filters.escapeHTML(x)) + (r.isMarkup ? y : Filters.escapeHTML(y)))
            }
            return try Operators.binary(op, a, b)
        case .compare(let first, let operations):
            var left = try evaluate(first, scope)
            for (op, rightExpr) in operations {
                let right = try evaluate(rightExpr, scope)
                if !(try Operators.compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let l, let r):
            let left = try evaluate(l, scope)
            return left.truthy ? try evaluate(r, scope) : left
        case .or(let l, let r):
            let left = try evaluate(l, scope)
            return left.truthy ? left : try evaluate(r, scope)
        case .conditional(let test, let then, let otherwise):
            if try evaluate(test, scope).truthy { return try evaluate(then, scope) }
            guard let otherwise else { return .undefined("the inline if-expression on line \(e.line) evaluated to false and no else section was defined.") }
            return try evaluate(otherwise, scope)
        }
    }

    func evaluateArguments(_ args: Arguments, _ scope: Scope) throws -> ([Value], [(String, Value)]) {
        (try args.positional.map { try evaluate($0, scope) }, try args.keyword.map { ($0.0, try evaluate($0.1, scope)) })
    }
}

enum Operators {
    static func unsupported(_ op: String, _ a: Value, _ b: Value? = nil) -> ChatTemplateError {
        if case .undefined(let m) = a { return Renderer.undefinedError(m) }
        if case .undefined(let m)? = b { return Renderer.undefinedError(m) }
        if let b {
            return .type("unsupported operand type(s) for \(op): '\(a.pythonTypeName)' and '\(b.pythonTypeName)'")
        }
        return .type("bad operand type for \(op): '\(a.pythonTypeName)'")
    }

    static func negate(_ v: Value) throws -> Value {
        switch v.numeric {
        case .int(let i)?: return .int(-i)
        case .double(let d)?: return .double(-d)
        case nil: throw unsupported("unary -", v)
        }
    }

    static func binary(_ op: BinaryOperator, _ a: Value, _ b: Value) throws -> Value {
        if op == .concat {
            let (x, y) = (a.pythonStr, b.pythonStr)
            try RenderLimits.checkString(bytes: x.utf8.count + y.utf8.count)
            return .string(x + y)
        }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            try RenderLimits.checkString(bytes: x.utf8.count + y.utf8.count)
            return .string(x + y)
        case (.add, .array(let x), .array(let y)): return .array(x + y)
        case (.add, .tuple(let x), .tuple(let y)): return .tuple(x + y)
        case (.multiply, .string(let s), _), (.multiply, _, .string(let s)):
            guard case .int(let n)? = (a.isString ? b : a).numeric, !(a.isString && b.isString) else { break }
            try RenderLimits.checkRepetition(s.utf8.count, times: n, limit: RenderLimits.maxStringBytes)
            return .string(String(repeating: s, count: max(0, n)))
        case (.multiply, .array(let l), _), (.multiply, _, .array(let l)):
            guard case .int(let n)? = (a.isArray ? b : a).numeric else { break }
            try RenderLimits.checkRepetition(l.count, times: n, limit: RenderLimits.maxListItems)
            return .array(Array(repeating: l, count: max(0, n)).flatMap { $0 })
        case (.modulo, .string(let format), _):
            return .string(try PrintfFormat.format(format, b))
        default: break
        }
        guard let x = a.numeric, let y = b.numeric else { throw unsupported(op.rawValue, a, b) }
        if case .int(let i) = x, case .int(let j) = y { return try integer(op, i, j) }
        let (p, q) = (x.asDouble, y.asDouble)
        switch op {
        case .add: return .double(p + q)
        case .subtract: return .double(p - q)
        case .multiply: return .double(p * q)
        case .divide:
            guard q != 0 else { throw ChatTemplateError.python("ZeroDivisionError", "float division by zero") }
            return .double(p / q)
        case .floorDivide:
            guard q != 0 else { throw ChatTemplateError.python("ZeroDivisionError", "float floor division by zero") }
            return .double((p / q).rounded(.down))
        case .modulo:
            guard q != 0 else { throw ChatTemplateError.python("ZeroDivisionError", "float modulo") }
            let r = p.truncatingRemainder(dividingBy: q)
            return .double(r != 0 && (r < 0) != (q < 0) ? r + q : r)
        case .power: return .double(Foundation.pow(p, q))
        case .concat: return .string(a.pythonStr + b.pythonStr)
        }
    }

    private static func integer(_ op: BinaryOperator, _ i: Int, _ j: Int) throws -> Value {
        func checked(_ r: (Int, Bool)) throws -> Value {
            if r.1 { throw ChatTemplateError.value("integer overflow") }
            return .int(r.0)
        }
        switch op {
        case .add: return try checked(i.addingReportingOverflow(j))
        case .subtract: return try checked(i.subtractingReportingOverflow(j))
        case .multiply: return try checked(i.multipliedReportingOverflow(by: j))
        case .divide:
            guard j != 0 else { throw ChatTemplateError.python("ZeroDivisionError", "division by zero") }
            return .double(Double(i) / Double(j))
        case .floorDivide, .modulo:
            guard j != 0 else { throw ChatTemplateError.python("ZeroDivisionError", "integer division or modulo by zero") }
            var q = i / j, r = i % j
            if r != 0 && (r < 0) != (j < 0) { q -= 1; r += j }
            return .int(op == .floorDivide ? q : r)
        case .power:
            if j < 0 { return .double(Foundation.pow(Double(i), Double(j))) }
            var result = 1
            for _ in 0..<j { result = try checked(result.multipliedReportingOverflow(by: i)).intValue! }
            return .int(result)
        case .concat: return .string(String(i) + String(j))
        }
    }

    static func compare(_ op: CompareOperator, _ a: Value, _ b: Value) throws -> Bool {
        switch op {
        case .eq: return a.pythonEquals(b)
        case .ne: return !a.pythonEquals(b)
        case .in: return try contains(b, a)
        case .notIn: return !(try contains(b, a))
        case .lt, .le, .gt, .ge:
            let (x, y) = (op == .lt || op == .le) ? (a, b) : (b, a)
            guard let less = x.pythonLess(y) else {
                throw unsupported(op.rawValue == "<" || op.rawValue == ">" ? op.rawValue : op.rawValue, a, b)
                    .comparison(op.rawValue, a, b)
            }
            return (op == .lt || op == .gt) ? less : (less || x.pythonEquals(y))
        }
    }

    /// Python `needle in container`.
    static func contains(_ container: Value, _ needle: Value) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                if case .undefined(let m) = needle { throw Renderer.undefinedError(m) }
                throw ChatTemplateError.type("'in <string>' requires string as left operand, not \(needle.pythonTypeName)")
            }
            return PyStr.find(s, n) != nil
        case .array(let a), .tuple(let a), .iterator(_, let a): return a.contains { $0.pythonEquals(needle) }
        case .object(let o):
            try needle.requireHashable()
            return o[value: needle] != nil
        case .undefined: return false
        default:
            throw ChatTemplateError.type("argument of type '\(container.pythonTypeName)' is not iterable")
        }
    }
}

extension ChatTemplateError {
    /// Python's message for an ordering comparison between unorderable values.
    fileprivate func comparison(_ op: String, _ a: Value, _ b: Value) -> ChatTemplateError {
        if case .type = self {
            return .type("'\(op)' not supported between instances of '\(a.pythonTypeName)' and '\(b.pythonTypeName)'")
        }
        return self
    }
}

extension Expr {
    /// Whether jinja2 would produce a markupsafe `Markup` here: `|safe`, `|escape`, or `+` with such an operand.
    /// (Tracked on expressions, not values: a Markup stored in a variable and added later is not recognized.)
    var isMarkup: Bool {
        switch kind {
        case .filter(_, let name, _): return name == "safe" || name == "escape" || name == "e"
        case .binary(.add, let l, let r): return l.isMarkup || r.isMarkup
        default: return false
        }
    }
}

extension Value {
    var isString: Bool { if case .string = self { return true } else { return false } }
    var isArray: Bool { if case .array = self { return true } else { return false } }
    /// Python raises for list/dict keys in sets and dict lookups.
    func requireHashable() throws {
        switch self {
        case .array, .object: throw ChatTemplateError.type("unhashable type: '\(pythonTypeName)'")
        case .tuple(let items): for i in items { try i.requireHashable() }
        default: break
        }
    }

    /// The items of a list or tuple.
    var sequenceItems: [Value]? {
        switch self { case .array(let a), .tuple(let a): return a; default: return nil }
    }
    var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
}
