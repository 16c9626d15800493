// The tokenizer, a port of jinja2's `Lexer.tokeniter` with the settings transformers uses
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False): the same whitespace rules,
// byte for byte, because they decide the rendered prompt.

struct Token {
    enum Kind: Equatable {
        case data(String)
        case blockBegin, blockEnd, variableBegin, variableEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }
    let kind: Kind
    let line: Int
}

struct Lexer {
    private let s: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    private var lineStarting = true  // jinja2: did the previous match end with "\n"
    private var tokens: [Token] = []

    init(source: String) {
        // jinja2 normalizes \r\n and \r to \n and drops one trailing newline before lexing.
        var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if text.hasSuffix("\n") { text.removeLast() }
        s = Array(text.unicodeScalars)
    }

    static func tokenize(_ source: String) throws -> [Token] {
        var lexer = Lexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    private mutating func run() throws {
        while pos < s.count {
            guard let (tagStart, kind) = nextTag(from: pos) else {
                emitData(String(String.UnicodeScalarView(s[pos...])))
                advance(to: s.count)
                break
            }
            let signIndex = tagStart + 2
            let sign: Unicode.Scalar? = signIndex < s.count && (s[signIndex] == "-" || s[signIndex] == "+") ? s[signIndex] : nil
            var text = Array(s[pos..<tagStart])
            if kind == .block, let rawEnd = matchRawBegin(at: tagStart) {
                text = strip(text, sign: sign, lstrip: true)
                emitData(String(String.UnicodeScalarView(text)))
                advance(to: rawEnd)
                try lexRawBody()
                continue
            }
            text = strip(text, sign: sign, lstrip: kind != .variable)
            emitData(String(String.UnicodeScalarView(text)))
            let tagLine = line + newlines(in: pos..<tagStart)
            advance(to: signIndex + (sign == nil ? 0 : 1))
            switch kind {
            case .comment: try lexComment(startLine: tagLine)
            case .block:
                tokens.append(Token(kind: .blockBegin, line: tagLine))
                try lexTag(end: "%", endKind: .blockEnd, trims: true)
            case .variable:
                tokens.append(Token(kind: .variableBegin, line: tagLine))
                try lexTag(end: "}", endKind: .variableEnd, trims: false)
            }
        }
        tokens.append(Token(kind: .eof, line: line))
    }

    private enum TagKind { case block, variable, comment }

    private func nextTag(from start: Int) -> (Int, TagKind)? {
        var i = start
        while i + 1 < s.count {
            if s[i] == "{" {
                switch s[i + 1] {
                case "%": return (i, .block)
                case "{": return (i, .variable)
                case "#": return (i, .comment)
                default: break
                }
            }
            i += 1
        }
        return nil
    }

    /// jinja2's OptionalLStrip: "-" strips all whitespace before the tag; otherwise, for block and comment
    /// tags, lstrip_blocks removes spaces between the line start and the tag.
    private func strip(_ text: [Unicode.Scalar], sign: Unicode.Scalar?, lstrip: Bool) -> [Unicode.Scalar] {
        if sign == "-" {
            var end = text.count
            while end > 0 && PythonString.isSpace(text[end - 1]) { end -= 1 }
            return Array(text[..<end])
        }
        guard sign != "+", lstrip else { return text }
        let lineStart = (text.lastIndex(of: "\n") ?? -1) + 1
        guard lineStart > 0 || lineStarting else { return text }
        let tail = text[lineStart...]
        if !tail.isEmpty && tail.allSatisfy(PythonString.isSpace) { return Array(text[..<lineStart]) }
        return text
    }

    private mutating func emitData(_ text: String) {
        if !text.isEmpty { tokens.append(Token(kind: .data(text), line: line)) }
    }

    /// Moves to `newPos`, counting lines and remembering whether the consumed span ended a line.
    private mutating func advance(to newPos: Int) {
        guard newPos > pos else { return }
        line += newlines(in: pos..<newPos)
        lineStarting = s[newPos - 1] == "\n"
        pos = newPos
    }

    private func newlines(in range: Range<Int>) -> Int {
        var count = 0
        for i in range where s[i] == "\n" { count += 1 }
        return count
    }

    private func skipSpaces(_ i: Int) -> Int {
        var j = i
        while j < s.count && PythonString.isSpace(s[j]) { j += 1 }
        return j
    }

    /// Compared scalar by scalar in place: the lexer asks this at every position inside a tag, for
    /// the closers and each operator, so it must not allocate.
    private func matches(_ word: String, at i: Int) -> Bool {
        var j = i
        for w in word.unicodeScalars {
            guard j < s.count, s[j] == w else { return false }
            j += 1
        }
        return true
    }

    /// `{%[-+]? raw (-%}\s*|%})` at `i`: returns the index after it.
    private func matchRawBegin(at i: Int) -> Int? {
        var j = i + 2
        if j < s.count && (s[j] == "-" || s[j] == "+") { j += 1 }
        j = skipSpaces(j)
        guard matches("raw", at: j) else { return nil }
        j = skipSpaces(j + 3)
        if matches("-%}", at: j) { return skipSpaces(j + 3) }
        if matches("%}", at: j) { return j + 2 }
        return nil
    }

    /// After a block/comment closer: "-" eats all following whitespace, "+" nothing, plain eats one "\n".
    private func afterCloser(_ j: Int, minus: Bool, plus: Bool) -> Int {
        if minus { return skipSpaces(j) }
        if !plus && j < s.count && s[j] == "\n" { return j + 1 }
        return j
    }

    private mutating func lexRawBody() throws {
        var i = pos
        while i + 1 < s.count {
            if s[i] == "{" && s[i + 1] == "%" {
                var j = i + 2
                let sign: Unicode.Scalar? = j < s.count && (s[j] == "-" || s[j] == "+") ? s[j] : nil
                if sign != nil { j += 1 }
                j = skipSpaces(j)
                if matches("endraw", at: j) {
                    j = skipSpaces(j + 6)
                    let plus = matches("+%}", at: j), minus = matches("-%}", at: j)
                    if plus || minus || matches("%}", at: j) {
                        j = afterCloser(j + (plus || minus ? 3 : 2), minus: minus, plus: plus)
                        let text = strip(Array(s[pos..<i]), sign: sign, lstrip: true)
                        emitData(String(String.UnicodeScalarView(text)))
                        advance(to: j)
                        return
                    }
                }
            }
            i += 1
        }
        throw ChatTemplateError.syntax("Missing end of raw directive", line: line)
    }

    private mutating func lexComment(startLine: Int) throws {
        var i = pos
        while i < s.count {
            let plus = matches("+#}", at: i), minus = matches("-#}", at: i)
            if plus || minus || matches("#}", at: i) {
                advance(to: afterCloser(i + (plus || minus ? 3 : 2), minus: minus, plus: plus))
                return
            }
            i += 1
        }
        throw ChatTemplateError.syntax("Missing end of comment tag", line: startLine)
    }

    /// Tokens inside `{% ... %}` or `{{ ... }}` up to the closer (which does not count inside brackets).
    private mutating func lexTag(end: Unicode.Scalar, endKind: Token.Kind, trims: Bool) throws {
        var brackets: [Unicode.Scalar] = []
        let closer = String(end) + "}", plusCloser = "+" + closer, minusCloser = "-" + closer
        while pos < s.count {
            if brackets.isEmpty {
                let plus = trims && matches(plusCloser, at: pos), minus = matches(minusCloser, at: pos)
                if plus || minus || matches(closer, at: pos) {
                    let tokenLine = line
                    let after = plus || minus ? pos + 3 : pos + 2
                    advance(to: trims ? afterCloser(after, minus: minus, plus: plus) : (minus ? skipSpaces(after) : after))
                    tokens.append(Token(kind: endKind, line: tokenLine))
                    return
                }
            }
            let c = s[pos]
            if PythonString.isSpace(c) { advance(to: skipSpaces(pos)); continue }
            if let (kind, next) = try number(at: pos) ?? name(at: pos) ?? string(at: pos) ?? op(at: pos) {
                if case .op(let o) = kind {
                    switch o {
                    case "(": brackets.append(")")
                    case "[": brackets.append("]")
                    case "{": brackets.append("}")
                    case ")", "]", "}":
                        guard brackets.last == o.unicodeScalars.first else {
                            throw ChatTemplateError.syntax("unexpected '\(o)'", line: line)
                        }
                        brackets.removeLast()
                    default: break
                    }
                }
                tokens.append(Token(kind: kind, line: line))
                advance(to: next)
                continue
            }
            throw ChatTemplateError.syntax("unexpected char \(PythonString.repr(String(c))) at \(pos)", line: line)
        }
        throw ChatTemplateError.syntax("unexpected end of template, expected '\(closer)'", line: line)
    }

    private static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
    private static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value >= 0x41 && c.value <= 0x5A) || (c.value >= 0x61 && c.value <= 0x7A)
    }

    private func number(at i: Int) -> (Token.Kind, Int)? {
        guard Lexer.isDigit(s[i]) else { return nil }
        var j = i
        func digits() { while j < s.count && (Lexer.isDigit(s[j]) || (s[j] == "_" && j + 1 < s.count && Lexer.isDigit(s[j + 1]))) { j += 1 } }
        digits()
        var isFloat = false
        // jinja2's float rule has a (?<!\.) guard: `x.0.1` is two attribute lookups, not a float.
        let afterDot = i > 0 && s[i - 1] == "."
        if !afterDot && j + 1 < s.count && s[j] == "." && Lexer.isDigit(s[j + 1]) { isFloat = true; j += 1; digits() }
        if !afterDot && j < s.count && (s[j] == "e" || s[j] == "E") {
            var k = j + 1
            if k < s.count && (s[k] == "+" || s[k] == "-") { k += 1 }
            if k < s.count && Lexer.isDigit(s[k]) { isFloat = true; j = k; digits() }
        }
        let text = String(String.UnicodeScalarView(s[i..<j])).replacingOccurrences(of: "_", with: "")
        if isFloat { return (.float(Double(text)!), j) }
        return (.integer(Int(text) ?? Int.max), j)
    }

    private func name(at i: Int) -> (Token.Kind, Int)? {
        guard Lexer.isNameStart(s[i]) else { return nil }
        var j = i + 1
        while j < s.count && (Lexer.isNameStart(s[j]) || Lexer.isDigit(s[j])) { j += 1 }
        return (.name(String(String.UnicodeScalarView(s[i..<j]))), j)
    }

    private func string(at i: Int) throws -> (Token.Kind, Int)? {
        let quote = s[i]
        guard quote == "'" || quote == "\"" else { return nil }
        var j = i + 1
        while j < s.count && s[j] != quote {
            j += s[j] == "\\" ? 2 : 1
        }
        guard j < s.count else { throw ChatTemplateError.syntax("unterminated string", line: line) }
        return (.string(Lexer.unescape(Array(s[(i + 1)..<j]))), j + 1)
    }

    private static let operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
                                    "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"]

    private func op(at i: Int) -> (Token.Kind, Int)? {
        for o in Lexer.operators where matches(o, at: i) { return (.op(o), i + o.unicodeScalars.count) }
        return nil
    }

    /// Python's "unicode-escape" decoding, which jinja2 applies to string literals.
    static func unescape(_ body: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        func hexValue(_ count: Int) -> UInt32? {
            guard i + 1 + count <= body.count else { return nil }
            return UInt32(String(String.UnicodeScalarView(body[(i + 1)..<(i + 1 + count)])), radix: 16)
        }
        while i < body.count {
            let c = body[i]
            guard c == "\\", i + 1 < body.count else { out.append(c); i += 1; continue }
            i += 1
            let e = body[i]
            switch e {
            case "\n": i += 1
            case "\\", "'", "\"": out.append(e); i += 1
            case "a": out.append("\u{07}"); i += 1
            case "b": out.append("\u{08}"); i += 1
            case "f": out.append("\u{0C}"); i += 1
            case "n": out.append("\n"); i += 1
            case "r": out.append("\r"); i += 1
            case "t": out.append("\t"); i += 1
            case "v": out.append("\u{0B}"); i += 1
            case "x", "u", "U":
                let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                if let v = hexValue(width), let scalar = Unicode.Scalar(v) { out.append(scalar); i += 1 + width }
                else { out.append("\\"); out.append(e); i += 1 }
            case "0"..."7":
                var v: UInt32 = 0, n = 0
                while n < 3 && i < body.count && ("0"..."7").contains(body[i]) { v = v * 8 + body[i].value - 48; i += 1; n += 1 }
                out.append(Unicode.Scalar(v)!)
            default: out.append("\\"); out.append(e); i += 1
            }
        }
        return String(out)
    }
}
