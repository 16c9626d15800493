// The parsed template: statements and expressions, with the line each came from for error messages.

struct Expr {
    indirect enum Kind {
        case literal(Value)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(Expr, Expr)])
        case attribute(Expr, String)  // x.name
        case item(Expr, Expr)  // x[key]
        case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)  // x[a:b:c]
        case call(Expr, Arguments)
        case filter(Expr, name: String, Arguments)
        case test(Expr, name: String, Arguments)
        case not(Expr)
        case negate(Expr)
        case plus(Expr)
        case binary(BinaryOperator, Expr, Expr)
        case compare(Expr, [(CompareOperator, Expr)])  // a < b <= c
        case and(Expr, Expr)
        case or(Expr, Expr)
        case conditional(test: Expr, then: Expr, otherwise: Expr?)
    }
    let kind: Kind
    let line: Int
    /// Expressions on the longest path down from this one, itself included: how deep evaluating it recurses.
    let depth: Int

    init(kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
        var deepest = 0
        kind.forEachSubexpression { deepest = max(deepest, $0.depth) }
        depth = deepest + 1
    }
}

extension Expr.Kind {
    /// Calls `body` with each expression directly inside this one.
    func forEachSubexpression(_ body: (Expr) -> Void) {
        switch self {
        case .literal, .name: break
        case .list(let items), .tuple(let items): items.forEach(body)
        case .dict(let pairs): for (key, value) in pairs { body(key); body(value) }
        case .attribute(let e, _), .not(let e), .negate(let e), .plus(let e): body(e)
        case .item(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): body(a); body(b)
        case .slice(let e, let start, let stop, let step):
            body(e)
            for part in [start, stop, step] { if let part { body(part) } }
        case .call(let e, let args), .filter(let e, _, let args), .test(let e, _, let args):
            body(e)
            args.positional.forEach(body)
            for (_, value) in args.keyword { body(value) }
        case .compare(let first, let operations):
            body(first)
            for (_, e) in operations { body(e) }
        case .conditional(let test, let then, let otherwise):
            body(test)
            body(then)
            if let otherwise { body(otherwise) }
        }
    }
}

struct Arguments {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

enum BinaryOperator: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~"
}

enum CompareOperator: String {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", `in` = "in", notIn = "not in"
}

indirect enum Statement {
    case text(String)
    case output(Expr)
    case ifChain([(Expr, [Statement])], otherwise: [Statement])
    case forLoop(ForLoop)
    case set(targets: [String], Expr)  // `set a = x`, `set a, b = pair`
    case setAttribute(object: String, attribute: String, Expr)  // `set ns.x = v`
    case setBlock(name: String, body: [Statement], filters: [(String, Arguments, Int)])
    case macro(Macro)
    case callBlock(call: Expr, callerParameters: [(String, Expr?)], body: [Statement])
    case filterBlock(filters: [(String, Arguments, Int)], body: [Statement])
    case breakLoop(line: Int)
    case continueLoop(line: Int)
    case generation([Statement])  // transformers' `{% generation %}` tag: renders its body
}

struct ForLoop {
    let targets: [String]  // one name, or several for tuple unpacking
    let iterable: Expr
    let condition: Expr?  // `for x in y if cond`
    let body: [Statement]
    let otherwise: [Statement]
    let recursive: Bool
    let line: Int
}

struct Macro {
    let name: String
    let parameters: [(String, Expr?)]  // name and default
    let body: [Statement]
    let line: Int
}
