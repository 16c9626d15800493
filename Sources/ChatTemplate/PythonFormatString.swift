// Python `str.format` for replacement fields without format specs: `{}`, `{0}`, `{name}`, `{!r}`, `{{`, `}}`.

enum PythonFormatString {
    static func format(_ template: String, _ args: [Value], _ kwargs: [(String, Value)]) throws -> String {
        let s = Array(template.unicodeScalars)
        var out = String.UnicodeScalarView()
        var automatic = 0
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "}" {
                guard i + 1 < s.count, s[i + 1] == "}" else { throw ChatTemplateError.value("Single '}' encountered in format string") }
                out.append("}"); i += 2; continue
            }
            guard c == "{" else { out.append(c); i += 1; continue }
            if i + 1 < s.count && s[i + 1] == "{" { out.append("{"); i += 2; continue }
            guard let close = s[(i + 1)...].firstIndex(of: "}") else {
                throw ChatTemplateError.value("Single '{' encountered in format string")
            }
            var field = String(String.UnicodeScalarView(s[(i + 1)..<close]))
            var conversion: Character? = nil
            if let bang = field.firstIndex(of: "!") {
                conversion = field[field.index(after: bang)...].first
                field = String(field[..<bang])
            }
            if field.contains(":") { throw ChatTemplateError.value("format specs in str.format are not supported") }
            let value: Value
            if field.isEmpty {
                guard automatic < args.count else { throw ChatTemplateError.value("Replacement index \(automatic) out of range for positional args tuple") }
                value = args[automatic]
                automatic += 1
            } else if let index = Int(field) {
                guard index < args.count else { throw ChatTemplateError.value("Replacement index \(index) out of range for positional args tuple") }
                value = args[index]
            } else {
                guard let v = kwargs.first(where: { $0.0 == field })?.1 else { throw ChatTemplateError.value("KeyError: '\(field)'") }
                value = v
            }
            out.append(contentsOf: (conversion == "r" ? value.pythonRepr : value.pythonStr).unicodeScalars)
            i = close + 1
        }
        return String(out)
    }
}
