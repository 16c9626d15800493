import Basics

/// JSON string literals byte-for-byte as the HF tools write them.
enum JSONText {
    /// serde_json (the safetensors header): escapes `"`, `\` and control characters, keeps UTF-8.
    static func serdeString(_ s: String) -> String { quoted(s, asciiOnly: false) }

    /// Python's json.dumps (ensure_ascii=True): like serde, but everything outside ' '...'~' becomes \uXXXX
    /// (UTF-16 surrogate pairs above the BMP).
    static func pythonString(_ s: String) -> String { quoted(s, asciiOnly: true) }

    private static func quoted(_ s: String, asciiOnly: Bool) -> String { JSONString.quoted(s, asciiOnly: asciiOnly) }
}
