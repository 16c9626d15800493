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
