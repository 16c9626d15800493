import ChatTemplate

/// Typed reads of a JSON request object, each failure an APIError naming the field (with the path of
/// an object read by `object(_:)`: `structured_outputs.json_object`).
struct JSONFields {
    let object: OrderedDictionary
    /// Where this object is in the request ("" at the top).
    var path = ""

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    init(body: String) throws {
        let value: Value
        do { value = try Value(json: body) } catch {
            throw APIError.invalid(nil, "the request body is not valid JSON: \(error)")
        }
        guard case let .object(object) = value else { throw APIError.invalid(nil, "the request body must be a JSON object") }
        self.object = object
    }

    /// The field, with JSON null read as absent.
    subscript(_ key: String) -> Value? {
        guard let value = object[key] else { return nil }
        if case .none = value { return nil }
        return value
    }

    func has(_ key: String) -> Bool { self[key] != nil }

    func string(_ key: String) throws -> String? {
        guard let value = self[key] else { return nil }
        guard case let .string(s) = value else { throw APIError.invalid(name(key), "\(name(key)) must be a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = self[key] else { return nil }
        guard case let .bool(b) = value else { throw APIError.invalid(name(key), "\(name(key)) must be a boolean") }
        return b
    }

    func int(_ key: String) throws -> Int? {
        guard let value = self[key] else { return nil }
        switch value {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
        default: throw APIError.invalid(name(key), "\(name(key)) must be an integer")
        }
    }

    func double(_ key: String) throws -> Double? {
        guard let value = self[key] else { return nil }
        switch value {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: throw APIError.invalid(name(key), "\(name(key)) must be a number")
        }
    }

    func object(_ key: String) throws -> JSONFields? {
        guard let value = self[key] else { return nil }
        guard case let .object(o) = value else { throw APIError.invalid(name(key), "\(name(key)) must be an object") }
        return JSONFields(object: o, path: name(key))
    }

    init(object: OrderedDictionary, path: String = "") { (self.object, self.path) = (object, path) }
}

extension Value {
    /// Compact JSON text (no spaces), for response bodies and SSE events.
    var compactJSON: String { (try? jsonString(separators: (",", ":"))) ?? "null" }

    static func obj(_ pairs: [(String, Value)]) -> Value { .object(OrderedDictionary(pairs)) }
}

extension Value {
    /// The string of a JSON string, else nil.
    var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
}
