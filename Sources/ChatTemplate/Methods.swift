// Python methods templates call on values (`s.startswith(...)`, `d.get(...)`, `d.items()`), bound to the value.
// Methods that mutate a list or dict are what ImmutableSandboxedEnvironment refuses: their lookup yields
// the sandbox's "unsafe" Undefined, which raises SecurityError when called.

enum Methods {
    private static let mutatingList: Set<String> = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                                                   "__setitem__", "__delitem__", "__iadd__"]
    private static let mutatingDict: Set<String> = ["pop", "popitem", "setdefault", "update", "clear", "__setitem__",
                                                   "__delitem__"]

    static func bound(_ base: Value, _ name: String) throws -> Value? {
        switch base {
        case .string(let s): return stringMethod(s, name)
        case .object(let o):
            if mutatingDict.contains(name) { return unsafe(name, "dict") }
            return dictMethod(o, name)
        case .tuple(let a): return listMethod(a, name)
        case .array(let a):
            if mutatingList.contains(name) { return unsafe(name, "list") }
            return listMethod(a, name)
        default: return nil
        }
    }

    private static func unsafe(_ name: String, _ type: String) -> Value {
        .undefined("access to attribute '\(name)' of '\(type)' object is unsafe.")
    }

    private static func method(_ name: String, _ body: @escaping @Sendable ([Value], [(String, Value)]) throws -> Value) -> Value {
        .callable(Callable(name: name) { args, kwargs, _ in try body(args, kwargs) })
    }

    /// Argument `i` (positional) or keyword `key`, nil when absent or None.
    static func argument(_ args: [Value], _ kwargs: [(String, Value)], _ i: Int, _ key: String) -> Value? {
        if i < args.count { return args[i].isNone ? nil : args[i] }
        return kwargs.first { $0.0 == key }.map(\.1).flatMap { $0.isNone ? nil : $0 }
    }

    static func stringArgument(_ v: Value?, _ method: String) throws -> String? {
        guard let v else { return nil }
        if case .string(let s) = v { return s }
        if case .undefined(let m) = v { throw Renderer.undefinedError(m) }
        throw ChatTemplateError.type("\(method)() argument must be str, not \(v.pythonTypeName)")
    }

    static func intArgument(_ v: Value?, _ method: String) throws -> Int? {
        guard let v else { return nil }
        if case .int(let i)? = v.numeric { return i }
        throw ChatTemplateError.type("'\(v.pythonTypeName)' object cannot be interpreted as an integer")
    }

    private static func stringMethod(_ s: String, _ name: String) -> Value? {
        func affix(_ isPrefix: Bool) -> Value {
            method(name) { args, kwargs in
                guard let first = argument(args, kwargs, 0, "prefix") else {
                    throw ChatTemplateError.type("\(name)() takes at least 1 argument (0 given)")
                }
                let candidates: [Value]
                candidates = first.sequenceItems ?? [first]
                let h = PyStr.scalars(s)
                for c in candidates {
                    let n = PyStr.scalars(try stringArgument(c, name) ?? "")
                    if n.count <= h.count && (isPrefix ? h.prefix(n.count).elementsEqual(n) : h.suffix(n.count).elementsEqual(n)) {
                        return .bool(true)
                    }
                }
                return .bool(false)
            }
        }
        switch name {
        case "startswith": return affix(true)
        case "endswith": return affix(false)
        case "split", "rsplit":
            return method(name) { args, kwargs in
                let sep = try stringArgument(argument(args, kwargs, 0, "sep"), name)
                let maxsplit = try intArgument(argument(args, kwargs, 1, "maxsplit"), name) ?? -1
                let parts = name == "split" ? try PyStr.split(s, sep, maxsplit: maxsplit) : try PyStr.rsplit(s, sep, maxsplit: maxsplit)
                return .array(parts.map { .string($0) })
            }
        case "strip", "lstrip", "rstrip":
            return method(name) { args, kwargs in
                let chars = try stringArgument(argument(args, kwargs, 0, "chars"), name)
                return .string(PyStr.strip(s, chars, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "replace":
            return method(name) { args, kwargs in
                guard let old = try stringArgument(argument(args, kwargs, 0, "old"), name),
                      let new = try stringArgument(argument(args, kwargs, 1, "new"), name)
                else { throw ChatTemplateError.type("replace expected at least 2 arguments") }
                let count = try intArgument(argument(args, kwargs, 2, "count"), name) ?? -1
                return .string(PyStr.replace(s, old, new, count: count))
            }
        case "upper": return method(name) { _, _ in .string(PyStr.upper(s)) }
        case "lower": return method(name) { _, _ in .string(PyStr.lower(s)) }
        case "title": return method(name) { _, _ in .string(PyStr.title(s)) }
        case "capitalize": return method(name) { _, _ in .string(PyStr.capitalize(s)) }
        case "find", "rfind", "index", "rindex", "count":
            return method(name) { args, kwargs in
                guard let sub = try stringArgument(argument(args, kwargs, 0, "sub"), name) else {
                    throw ChatTemplateError.type("\(name)() takes at least 1 argument (0 given)")
                }
                let h = PyStr.scalars(s), n = PyStr.scalars(sub)
                if name == "count" {
                    if n.isEmpty { return .int(h.count + 1) }
                    var c = 0, from = 0
                    while let i = PyStr.find(h, n, from: from) { c += 1; from = i + n.count }
                    return .int(c)
                }
                let start = try intArgument(argument(args, kwargs, 1, "start"), name) ?? 0
                let found = name.hasPrefix("r") ? PyStr.rfind(h, n) : PyStr.find(h, n, from: start < 0 ? max(0, start + h.count) : start)
                if let found { return .int(found) }
                if name.hasSuffix("index") { throw ChatTemplateError.value("substring not found") }
                return .int(-1)
            }
        case "format":
            return method(name) { args, kwargs in .string(try PythonFormatString.format(s, args, kwargs)) }
        case "splitlines":
            return method(name) { args, kwargs in
                let keep = argument(args, kwargs, 0, "keepends")?.truthy ?? false
                return .array(PyStr.splitlines(s, keepends: keep).map { .string($0) })
            }
        case "join":
            return method(name) { args, _ in
                guard let seq = args.first else { throw ChatTemplateError.type("join() takes exactly one argument") }
                let items: [Value]
                switch seq {
                case .array(let a), .tuple(let a): items = a
                case .string(let t): items = t.unicodeScalars.map { .string(String($0)) }
                default: throw ChatTemplateError.type("can only join an iterable")
                }
                return .string(try items.map { item -> String in
                    guard case .string(let t) = item else {
                        throw ChatTemplateError.type("sequence item: expected str instance, \(item.pythonTypeName) found")
                    }
                    return t
                }.joined(separator: s))
            }
        case "isdigit", "isnumeric", "isdecimal":
            return method(name) { _, _ in
                .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil })
            }
        case "isalpha": return method(name) { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(\.properties.isAlphabetic)) }
        case "isspace": return method(name) { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PythonString.isSpace)) }
        case "isupper", "islower":
            return method(name) { _, _ in
                let cased = s.unicodeScalars.filter(PyStr.isCased)
                let want = name == "isupper" ? PyStr.upper(s) : PyStr.lower(s)
                return .bool(!cased.isEmpty && want == s)
            }
        default: return nil
        }
    }

    private static func dictMethod(_ o: OrderedDictionary, _ name: String) -> Value? {
        switch name {
        case "get":
            return method(name) { args, _ in
                guard let key = args.first else { throw ChatTemplateError.type("get expected at least 1 argument, got 0") }
                let fallback = args.count > 1 ? args[1] : .none
                return o[value: key] ?? fallback
            }
        case "keys": return method(name) { _, _ in .array(o.keyValues) }
        case "values": return method(name) { _, _ in .array(o.values) }
        case "items": return method(name) { _, _ in .array(o.entries.map { .tuple([$0.0, $0.1]) }) }
        case "copy": return method(name) { _, _ in .object(o) }
        default: return nil
        }
    }

    private static func listMethod(_ a: [Value], _ name: String) -> Value? {
        switch name {
        case "index":
            return method(name) { args, _ in
                guard let x = args.first else { throw ChatTemplateError.type("index expected at least 1 argument") }
                if let i = a.firstIndex(where: { $0.pythonEquals(x) }) { return .int(i) }
                throw ChatTemplateError.value("\(x.pythonRepr) is not in list")
            }
        case "count":
            return method(name) { args, _ in
                guard let x = args.first else { throw ChatTemplateError.type("count() takes exactly one argument") }
                return .int(a.filter { $0.pythonEquals(x) }.count)
            }
        case "copy": return method(name) { _, _ in .array(a) }
        default: return nil
        }
    }
}
