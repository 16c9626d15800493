/// JSON string literals byte-for-byte as the HF tools write them.
enum JSONText {
    /// serde_json (the safetensors header): escapes `"`, `\` and control characters, keeps UTF-8.
    static func serdeString(_ s: String) -> String { quoted(s, asciiOnly: false) }

    /// Python's json.dumps (ensure_ascii=True): like serde, but everything outside ' '...'~' becomes \uXXXX
    /// (UTF-16 surrogate pairs above the BMP).
    static func pythonString(_ s: String) -> String { quoted(s, asciiOnly: true) }

    private static func quoted(_ s: String, asciiOnly: Bool) -> String {
        var out = "\""
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
        return out + "\""
    }

    private static func hexEscape(_ unit: UInt16) -> String {
        let hex = String(unit, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
