// A recursive-descent parser following jinja2's `Parser` (same precedence, same statement forms).
// Anything this engine does not implement is rejected here, at load time, with its line.

struct Parser {
    private let tokens: [Token]
    private var index = 0
    /// Expressions and statements being parsed inside one another (`RenderLimits.maxNesting`).
    private var nesting = 0

    static func parse(_ source: String) throws -> [Statement] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let body = try parser.subparse(until: [])
        try NameCheck.statements(body, soft: false)
        return body
    }

    private init(tokens: [Token]) { self.tokens = tokens }

    // MARK: - Token stream

    private var current: Token { tokens[index] }
    private var next: Token { tokens[min(index + 1, tokens.count - 1)] }
    private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    private func isName(_ name: String, _ token: Token? = nil) -> Bool {
        if case .name(name) = (token ?? current).kind { return true }
        return false
    }
    private func isOp(_ op: String, _ token: Token? = nil) -> Bool {
        if case .op(op) = (token ?? current).kind { return true }
        return false
    }

    private func fail(_ message: String, line: Int? = nil) -> ChatTemplateError {
        .syntax(message, line: line ?? current.line)
    }

    /// One level deeper (callers `defer { nesting -= 1 }`): recursion stays within `RenderLimits.maxNesting`.
    private mutating func enterNested() throws {
        nesting += 1
        guard nesting <= RenderLimits.maxNesting else { throw fail("nested more than \(RenderLimits.maxNesting) levels deep") }
    }

    /// An expression node, refused when its tree is deeper than `RenderLimits.maxExpressionDepth`.
    private static func node(_ kind: Expr.Kind, line: Int) throws -> Expr {
        let e = Expr(kind: kind, line: line)
        guard e.depth <= RenderLimits.maxExpressionDepth else {
            throw ChatTemplateError.syntax("expression more than \(RenderLimits.maxExpressionDepth) levels deep", line: line)
        }
        return e
    }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .data: return "template data"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "end of statement block"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "end of print statement"
        case .name(let n): return "'\(n)'"
        case .string(let s): return PythonString.repr(s)
        case .integer(let i): return "\(i)"
        case .float(let d): return PythonFloat.repr(d)
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw fail("expected '\(op)', got \(describe(current))") }
        advance()
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw fail("expected a name, got \(describe(current))") }
        advance()
        return n
    }

    private mutating func expectKeyword(_ word: String) throws {
        guard isName(word) else { throw fail("expected '\(word)', got \(describe(current))") }
        advance()
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw fail("expected end of statement block, got \(describe(current))") }
        advance()
    }

    // MARK: - Statements

    /// Parses until a `{% name %}` with name in `endTags`; leaves the stream on that name.
    private mutating func subparse(until endTags: Set<String>) throws -> [Statement] {
        var body: [Statement] = []
        while true {
            let token = current
            switch token.kind {
            case .data(let text):
                body.append(.text(text))
                advance()
            case .variableBegin:
                advance()
                let e = try parseTuple()
                guard current.kind == .variableEnd else { throw fail("expected end of print statement, got \(describe(current))") }
                advance()
                body.append(.output(e))
            case .blockBegin:
                advance()
                if case .name(let n) = current.kind, endTags.contains(n) { return body }
                body.append(try parseStatement())
            case .eof:
                if !endTags.isEmpty {
                    throw fail("unexpected end of template, expected " + endTags.sorted().map { "'\($0)'" }.joined(separator: " or "))
                }
                return body
            default:
                throw fail("unexpected \(describe(token))")
            }
        }
    }

    private mutating func parseStatement() throws -> Statement {
        try enterNested()
        defer { nesting -= 1 }
        let line = current.line
        guard case .name(let keyword) = current.kind else { throw fail("tag name expected") }
        switch keyword {
        case "if": return try parseIf()
        case "for": return try parseFor()
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "call": return try parseCallBlock()
        case "filter": return try parseFilterBlock()
        case "break", "continue":
            advance()
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop(line: line) : .continueLoop(line: line)
        case "generation":
            advance()
            try expectBlockEnd()
            let body = try subparse(until: ["endgeneration"])
            advance()
            try expectBlockEnd()
            return .generation(body)
        case "extends", "block", "include", "import", "from", "with", "autoescape", "do", "trans":
            throw fail("unsupported construct '{% \(keyword) %}'")
        default:
            throw fail("unknown tag '\(keyword)'")
        }
    }

    private mutating func parseIf() throws -> Statement {
        advance()  // if / elif
        var branches: [(Expr, [Statement])] = []
        var otherwise: [Statement] = []
        var test = try parseTuple(condexpr: false)
        while true {
            try expectBlockEnd()
            let body = try subparse(until: ["elif", "else", "endif"])
            branches.append((test, body))
            let tag = try expectName()
            if tag == "elif" { test = try parseTuple(condexpr: false); continue }
            if tag == "else" {
                try expectBlockEnd()
                otherwise = try subparse(until: ["endif"])
                advance()
            }
            try expectBlockEnd()
            return .ifChain(branches, otherwise: otherwise)
        }
    }

    private mutating func parseFor() throws -> Statement {
        let line = current.line
        advance()
        let targets = try parseAssignTargetNames(endWord: "in")
        try expectKeyword("in")
        let iterable = try parseTuple(condexpr: false, endWords: ["recursive"])
        var condition: Expr? = nil
        if isName("if") { advance(); condition = try parseExpression() }
        if isName("recursive") { throw fail("unsupported construct 'recursive' for-loop") }
        let recursive = false
        try expectBlockEnd()
        let body = try subparse(until: ["endfor", "else"])
        var otherwise: [Statement] = []
        if try expectName() == "else" {
            try expectBlockEnd()
            otherwise = try subparse(until: ["endfor"])
            advance()
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(targets: targets, iterable: iterable, condition: condition, body: body,
                                otherwise: otherwise, recursive: recursive, line: line))
    }

    /// `x`, `k, v` or `(k, v)` before `in` / `=`.
    private mutating func parseAssignTargetNames(endWord: String?) throws -> [String] {
        var names: [String] = []
        let parenthesized = isOp("(")
        if parenthesized { advance() }
        while true {
            names.append(try expectName())
            if isOp(",") {
                advance()
                if (endWord.map { isName($0) } ?? false) || isOp("=") || isOp(")") { break }
                continue
            }
            break
        }
        if parenthesized { try expectOp(")") }
        return names
    }

    private mutating func parseSet() throws -> Statement {
        advance()
        if case .name(let object) = current.kind, isOp(".", next) {
            advance(); advance()
            let attribute = try expectName()
            try expectOp("=")
            let value = try parseTuple()
            try expectBlockEnd()
            return .setAttribute(object: object, attribute: attribute, value)
        }
        let targets = try parseAssignTargetNames(endWord: nil)
        if isOp("=") {
            advance()
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(targets: targets, value)
        }
        guard targets.count == 1 else { throw fail("expected '='") }
        let filters = try parseFilterChain()
        try expectBlockEnd()
        let body = try subparse(until: ["endset"])
        advance()
        try expectBlockEnd()
        return .setBlock(name: targets[0], body: body, filters: filters)
    }

    /// `| f(args) | g` as used by block set and `{% filter %}`.
    private mutating func parseFilterChain(startInline: Bool = false) throws -> [(String, Arguments, Int)] {
        var filters: [(String, Arguments, Int)] = []
        var inline = startInline
        while isOp("|") || inline {
            if !inline { advance() }
            inline = false
            let line = current.line
            let name = try expectName()
            let args = isOp("(") ? try parseCallArguments() : Arguments()
            filters.append((name, args, line))
        }
        return filters
    }

    private mutating func parseFilterBlock() throws -> Statement {
        advance()
        let filters = try parseFilterChain(startInline: true)
        try expectBlockEnd()
        let body = try subparse(until: ["endfilter"])
        advance()
        try expectBlockEnd()
        return .filterBlock(filters: filters, body: body)
    }

    private mutating func parseMacro() throws -> Statement {
        let line = current.line
        advance()
        let name = try expectName()
        let parameters = try parseSignature()
        try expectBlockEnd()
        let body = try subparse(until: ["endmacro"])
        advance()
        if case .name = current.kind { advance() }  // `{% endmacro name %}`
        try expectBlockEnd()
        return .macro(Macro(name: name, parameters: parameters, body: body, line: line))
    }

    /// `(a, b=default)`.
    private mutating func parseSignature() throws -> [(String, Expr?)] {
        try expectOp("(")
        var parameters: [(String, Expr?)] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            if isOp("=") { advance(); parameters.append((name, try parseExpression())) }
            else { parameters.append((name, nil)) }
        }
        advance()
        return parameters
    }

    private mutating func parseCallBlock() throws -> Statement {
        advance()
        let callerParameters = isOp("(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw fail("expected call") }
        try expectBlockEnd()
        let body = try subparse(until: ["endcall"])
        advance()
        try expectBlockEnd()
        return .callBlock(call: call, callerParameters: callerParameters, body: body)
    }

    // MARK: - Expressions

    private func isTupleEnd(_ endWords: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .op(")"): return true
        case .name(let n): return endWords.contains(n)
        default: return false
        }
    }

    /// jinja2 `parse_tuple`: `a` or `a, b, ...` (a tuple).
    private mutating func parseTuple(condexpr: Bool = true, endWords: Set<String> = [], explicitParentheses: Bool = false)
        throws -> Expr
    {
        let line = current.line
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(endWords) { break }
            items.append(condexpr ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("Expected an expression, got \(describe(current))") }
        }
        return try Parser.node(.tuple(items), line: line)
    }

    private mutating func parseExpression() throws -> Expr {
        try enterNested()
        defer { nesting -= 1 }
        var e = try parseOr()
        while isName("if") {
            let line = current.line
            advance()
            let test = try parseOr()
            var otherwise: Expr? = nil
            if isName("else") { advance(); otherwise = try parseExpression() }
            e = try Parser.node(.conditional(test: test, then: e, otherwise: otherwise), line: line)
        }
        return e
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let line = current.line
            advance()
            left = try Parser.node(.or(left, try parseAnd()), line: line)
        }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while isName("and") {
            let line = current.line
            advance()
            left = try Parser.node(.and(left, try parseNot()), line: line)
        }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if isName("not") {
            try enterNested()
            defer { nesting -= 1 }
            let line = current.line
            advance()
            return try Parser.node(.not(try parseNot()), line: line)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let line = current.line
        let left = try parseMath1()
        var operations: [(CompareOperator, Expr)] = []
        while true {
            if case .op(let o) = current.kind, let op = CompareOperator(rawValue: o), op != .in, op != .notIn {
                advance()
                operations.append((op, try parseMath1()))
            } else if isName("in") {
                advance()
                operations.append((.in, try parseMath1()))
            } else if isName("not") && isName("in", next) {
                advance(); advance()
                operations.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        if operations.isEmpty { return left }
        return try Parser.node(.compare(left, operations), line: line)
    }

    private mutating func parseBinary(_ ops: [String], operand: (inout Parser) throws -> Expr) throws -> Expr {
        var left = try operand(&self)
        while case .op(let o) = current.kind, ops.contains(o) {
            let line = current.line
            advance()
            left = try Parser.node(.binary(BinaryOperator(rawValue: o)!, left, try operand(&self)), line: line)
        }
        return left
    }

    private mutating func parseMath1() throws -> Expr { try parseBinary(["+", "-"]) { try $0.parseConcat() } }
    private mutating func parseConcat() throws -> Expr { try parseBinary(["~"]) { try $0.parseMath2() } }
    private mutating func parseMath2() throws -> Expr { try parseBinary(["*", "/", "//", "%"]) { try $0.parsePow() } }
    private mutating func parsePow() throws -> Expr { try parseBinary(["**"]) { try $0.parseUnary() } }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        try enterNested()
        defer { nesting -= 1 }
        let line = current.line
        var e: Expr
        if isOp("-") {
            advance()
            e = try Parser.node(.negate(try parseUnary(withFilter: false)), line: line)
        } else if isOp("+") {
            advance()
            e = try Parser.node(.plus(try parseUnary(withFilter: false)), line: line)
        } else {
            e = try parsePrimary()
        }
        e = try parsePostfix(e)
        if withFilter { e = try parseFilterExpression(e) }
        return e
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = current
        let line = token.line
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return try Parser.node(.literal(.bool(true)), line: line)
            case "false", "False": return try Parser.node(.literal(.bool(false)), line: line)
            case "none", "None": return try Parser.node(.literal(.none), line: line)
            default: return try Parser.node(.name(n), line: line)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind { s += more; advance() }
            return try Parser.node(.literal(.string(s)), line: line)
        case .integer(let i):
            advance()
            return try Parser.node(.literal(.int(i)), line: line)
        case .float(let d):
            advance()
            return try Parser.node(.literal(.double(d)), line: line)
        case .op("("):
            advance()
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            advance()
            return try Parser.node(.list(items), line: line)
        case .op("{"):
            advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            advance()
            return try Parser.node(.dict(pairs), line: line)
        default:
            throw fail("unexpected \(describe(token))")
        }
    }

    private mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            let line = current.line
            if isOp(".") {
                advance()
                switch current.kind {
                case .name(let n): advance(); e = try Parser.node(.attribute(e, n), line: line)
                case .integer(let i): advance(); e = try Parser.node(.item(e, try Parser.node(.literal(.int(i)), line: line)), line: line)
                default: throw fail("expected name or number")
                }
            } else if isOp("[") {
                advance()
                e = try parseSubscript(e, line: line)
            } else if isOp("(") {
                e = try Parser.node(.call(e, try parseCallArguments()), line: line)
            } else {
                return e
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr, line: Int) throws -> Expr {
        // `[key]` or a slice `[start:stop:step]` with any part left out.
        var start: Expr? = nil
        if !isOp(":") { start = try parseExpression() }
        if isOp("]") {
            advance()
            return try Parser.node(.item(base, start!), line: line)
        }
        guard isOp(":") else {
            throw fail("unsupported subscript (a tuple index) at \(describe(current))")
        }
        advance()
        var stop: Expr? = nil, step: Expr? = nil
        if !isOp("]") && !isOp(":") { stop = try parseExpression() }
        if isOp(":") {
            advance()
            if !isOp("]") { step = try parseExpression() }
        }
        try expectOp("]")
        return try Parser.node(.slice(base, start: start, stop: stop, step: step), line: line)
    }

    private mutating func parseCallArguments() throws -> Arguments {
        try expectOp("(")
        var args = Arguments()
        while !isOp(")") {
            if !args.positional.isEmpty || !args.keyword.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            if isOp("*") || isOp("**") { throw fail("unsupported construct: *args / **kwargs in a call") }
            if case .name(let n) = current.kind, isOp("=", next) {
                advance(); advance()
                args.keyword.append((n, try parseExpression()))
            } else {
                if !args.keyword.isEmpty { throw fail("positional argument after keyword argument") }
                args.positional.append(try parseExpression())
            }
        }
        advance()
        return args
    }

    private mutating func parseFilterExpression(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            let line = current.line
            if isOp("|") {
                for (name, args, filterLine) in try parseFilterChain() {
                    e = try Parser.node(.filter(e, name: name, args), line: filterLine)
                }
            } else if isName("is") {
                advance()
                let negated = isName("not")
                if negated { advance() }
                let name = try expectName()
                var args = Arguments()
                if isOp("(") {
                    args = try parseCallArguments()
                } else if startsTestArgument() {
                    args.positional = [try parsePostfix(try parsePrimary())]
                }
                e = try Parser.node(.test(e, name: name, args), line: line)
                if negated { e = try Parser.node(.not(e), line: line) }
            } else if isOp("(") {
                e = try Parser.node(.call(e, try parseCallArguments()), line: line)
            } else {
                return e
            }
        }
    }

    /// jinja2 takes one bare argument after a test name (`x is divisibleby 3`, `x is sameas none`).
    private func startsTestArgument() -> Bool {
        switch current.kind {
        case .name(let n): return !["else", "or", "and", "is"].contains(n)
        case .string, .integer, .float: return true
        case .op(let o): return o == "(" || o == "[" || o == "{"
        default: return false
        }
    }
}
