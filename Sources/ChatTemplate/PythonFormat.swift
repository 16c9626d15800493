import Foundation

// How Python prints values: `str()` for `{{ x }}`, `repr()` inside lists and dicts, `float.__repr__`.

extension Value {
    /// Python `str(x)`, which jinja2 uses to print `{{ x }}` (Undefined prints as "").
    var pythonStr: String {
        switch self {
        case .string(let s): return s
        case .undefined: return ""
        default: return pythonRepr
        }
    }

    /// Python `repr(x)`.
    var pythonRepr: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PythonFloat.repr(d)
        case .string(let s): return PythonString.repr(s)
        case .array(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .tuple(let a): return "(" + a.map(\.pythonRepr).joined(separator: ", ") + (a.count == 1 ? ",)" : ")")
        case .object(let o):
            return "{" + o.entries.map { $0.0.pythonRepr + ": " + $0.1.pythonRepr }.joined(separator: ", ") + "}"
        case .namespace(let ns):
            // jinja2's `<Namespace {attrs!r}>`: Python prints a dict already being printed as `{...}`.
            if ns.printing { return "<Namespace {...}>" }
            ns.printing = true
            defer { ns.printing = false }
            return "<Namespace " + Value.object(ns.attributes).pythonRepr + ">"
        case .callable(let c): return "<function \(c.name)>"
        case .undefined: return "Undefined"
        case .iterator(let name, _): return "<\(name) object>"
        }
    }
}

enum PythonFloat {
    /// `float.__repr__`: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16, else scientific.
    static func repr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let (digits, exponent) = shortestDigits(abs(d))  // value = 0.d1d2d3... × 10^exponent
        let sign = d < 0 ? "-" : ""
        let decimalPoint = exponent  // digits before the decimal point
        let sciExponent = exponent - 1
        if sciExponent >= -4 && sciExponent < 16 {
            if decimalPoint <= 0 {
                return sign + "0." + String(repeating: "0", count: -decimalPoint) + digits
            } else if decimalPoint >= digits.count {
                return sign + digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
            } else {
                let i = digits.index(digits.startIndex, offsetBy: decimalPoint)
                return sign + digits[..<i] + "." + digits[i...]
            }
        }
        var mantissa = String(digits.first!)
        if digits.count > 1 { mantissa += "." + digits.dropFirst() }
        let e = sciExponent < 0 ? "-" + pad2(-sciExponent) : "+" + pad2(sciExponent)
        return sign + mantissa + "e" + e
    }

    private static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Shortest round-trip decimal digits of a positive finite double (Swift's description gives them too).
    static func shortestDigits(_ d: Double) -> (digits: String, exponent: Int) {
        let text = "\(d)"  // "123.45", "1e-05", "1.2345e+20"
        var mantissa = Substring(text)
        var exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exp = Int(text[text.index(after: e)...])!
        }
        var intPart = mantissa
        var fracPart: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            fracPart = mantissa[mantissa.index(after: dot)...]
        }
        var digits = String(intPart) + fracPart
        var pointPosition = intPart.count + exp
        while digits.hasPrefix("0") && digits.count > 1 { digits.removeFirst(); pointPosition -= 1 }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        return (digits, pointPosition)
    }
}

enum PythonString {
    /// `repr(str)`: single quotes unless the text has ' and no ", escapes for what `str.isprintable` rejects.
    static func repr(_ s: String) -> String {
        let quote: Character = (s.contains("'") && !s.contains("\"")) ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else if scalar.value < 0x10000 {
                    out += "\\u" + hex(scalar.value, width: 4)
                } else {
                    out += "\\U" + hex(scalar.value, width: 8)
                }
            }
        }
        out.append(quote)
        return out
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// Python's `str.isprintable` for one code point: not Other (Cc Cf Cs Co Cn) or Separator (Zl Zp Zs) but ' '.
    static func isPrintable(_ s: Unicode.Scalar) -> Bool {
        if s == " " { return true }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Python's `str.isspace` for one code point (what `strip()`, `split()` and jinja2's `-` trimming remove).
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F,
             0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
