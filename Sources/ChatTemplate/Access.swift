// `x.name`, `x[key]` and `x[a:b:c]` as jinja2's ImmutableSandboxedEnvironment resolves them:
// attribute access tries the Python attribute (a method) first, then the item; item access the reverse.
// A miss is an Undefined carrying jinja2's message; mutating methods are refused as the sandbox does.

enum Access {
    private static func typeRepr(_ v: Value) -> String {
        v.isNone ? "'None'" : "'\(v.pythonTypeName) object'"
    }

    static func attribute(_ base: Value, _ name: String) throws -> Value {
        if case .undefined(let m) = base { throw Renderer.undefinedError(m) }
        if let method = try Methods.bound(base, name) { return method }
        switch base {
        case .object(let o):
            if let v = o[name] { return v }
        case .namespace(let ns):
            if let v = ns.attributes[name] { return v }
        default: break
        }
        return .undefined("\(typeRepr(base)) has no attribute '\(name)'")
    }

    static func item(_ base: Value, _ key: Value) throws -> Value {
        switch (base, key) {
        case (.undefined(let m), _): throw Renderer.undefinedError(m)
        case (.object(let o), _):
            if let v = o[value: key] { return v }
        case (.array(let a), _), (.tuple(let a), _):
            if let i = key.numeric.flatMap({ if case .int(let i) = $0 { return i } else { return nil } }) {
                let j = i < 0 ? i + a.count : i
                if j >= 0 && j < a.count { return a[j] }
                return .undefined("\(base.pythonTypeName) object has no element \(key.pythonRepr)")
            }
        case (.string(let s), .int(let i)):
            let h = PyStr.scalars(s)
            let j = i < 0 ? i + h.count : i
            if j >= 0 && j < h.count { return .string(String(h[j])) }
            return .undefined("\(base.pythonTypeName) object has no element \(i)")
        default: break
        }
        if case .string(let name) = key {
            if let method = try Methods.bound(base, name) { return method }
            if case .namespace(let ns) = base, let v = ns.attributes[name] { return v }
            return .undefined("\(typeRepr(base)) has no attribute '\(name)'")
        }
        return .undefined("\(typeRepr(base)) has no element \(key.pythonRepr)")
    }

    static func slice(_ base: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws -> Value {
        func bound(_ v: Value?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            if case .int(let i) = v { return i }
            if case .bool(let b) = v { return b ? 1 : 0 }
            if case .undefined(let m) = v { throw Renderer.undefinedError(m) }
            throw ChatTemplateError.type("slice indices must be integers or None")
        }
        let (a, b, c) = (try bound(start), try bound(stop), try bound(step))
        switch base {
        case .array(let items):
            return .array(try indices(count: items.count, a, b, c).map { items[$0] })
        case .tuple(let items):
            return .tuple(try indices(count: items.count, a, b, c).map { items[$0] })
        case .string(let s):
            let h = PyStr.scalars(s)
            return .string(PyStr.string(try indices(count: h.count, a, b, c).map { h[$0] }))
        case .undefined(let m): throw Renderer.undefinedError(m)
        default:
            throw ChatTemplateError.type("'\(base.pythonTypeName)' object is not subscriptable")
        }
    }

    /// The positions Python's `seq[start:stop:step]` selects.
    static func indices(count n: Int, _ start: Int?, _ stop: Int?, _ step: Int?) throws -> [Int] {
        let step = step ?? 1
        guard step != 0 else { throw ChatTemplateError.value("slice step cannot be zero") }
        func clamp(_ i: Int?, _ defaultValue: Int, low: Int, high: Int) -> Int {
            guard var i else { return defaultValue }
            if i < 0 { i += n }
            return min(max(i, low), high)
        }
        var result: [Int] = []
        if step > 0 {
            var i = clamp(start, 0, low: 0, high: n)
            let end = clamp(stop, n, low: 0, high: n)
            while i < end { result.append(i); i += step }
        } else {
            var i = clamp(start, n - 1, low: -1, high: n - 1)
            let end = clamp(stop, -1, low: -1, high: n - 1)
            while i > end { result.append(i); i += step }
        }
        return result
    }
}
