/// JSON string literals byte for byte as serde_json and Python's `json.dumps` write them — the one
/// rule behind the safetensors header writer and chat templates' `tojson`: `"` and `\` escaped,
/// \n \r \t \b \f by name, other control characters as \u00xx; with `asciiOnly` (json.dumps'
/// ensure_ascii) everything outside ' '...'~' as lowercase \uxxxx, UTF-16 surrogate pairs above
/// the BMP. Without it, other characters stay as they are (UTF-8).
public enum JSONString {
    public static func quoted(_ s: String, asciiOnly: Bool) -> String {
        var out = ""
        append(s, to: &out, asciiOnly: asciiOnly)
        return out
    }

    public static func append(_ s: String, to out: inout String, asciiOnly: Bool) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E) {
                    for unit in String(scalar).utf16 { out += hexEscape(unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    private static func hexEscape(_ unit: UInt16) -> String {
        let hex = String(unit, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
