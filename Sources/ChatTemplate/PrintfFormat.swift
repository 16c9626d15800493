import Foundation

// Python's `str % args` for the conversions templates use (%s %r %d %i %f %%), and the `format` filter.

enum PrintfFormat {
    static func format(_ format: String, _ args: Value) throws -> String {
        var queue: [Value]
        if case .tuple(let a) = args { queue = a } else { queue = [args] }
        var out = ""
        let chars = Array(format.unicodeScalars)
        var i = 0
        func next() throws -> Value {
            guard !queue.isEmpty else { throw ChatTemplateError.type("not enough arguments for format string") }
            return queue.removeFirst()
        }
        while i < chars.count {
            guard chars[i] == "%", i + 1 < chars.count else { out.unicodeScalars.append(chars[i]); i += 1; continue }
            let spec = chars[i + 1]
            i += 2
            switch spec {
            case "%": out += "%"
            case "s": out += try next().pythonStr
            case "r": out += try next().pythonRepr
            case "d", "i":
                let v = try next()
                switch v.numeric {
                case .int(let n)?: out += String(n)
                case .double(let d)?: out += String(Int(d))
                case nil: throw ChatTemplateError.type("%d format: a real number is required, not \(v.pythonTypeName)")
                }
            case "f":
                let v = try next()
                guard let n = v.numeric else { throw ChatTemplateError.type("must be real number, not \(v.pythonTypeName)") }
                out += String(format: "%.6f", n.asDouble)
            default:
                throw ChatTemplateError.value("unsupported format character '\(spec)'")
            }
        }
        // Python only complains about leftovers for a tuple or a plain value; a list or dict counts as a mapping.
        let mappingLike: Bool
        switch args { case .array, .object: mappingLike = true; default: mappingLike = false }
        guard queue.isEmpty || mappingLike else { throw ChatTemplateError.type("not all arguments converted during string formatting") }
        return out
    }
}
