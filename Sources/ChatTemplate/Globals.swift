import Foundation

// The global functions a transformers chat template can call: jinja2's `range`, `dict`, `namespace`, and
// transformers' `raise_exception(message)` and `strftime_now(format)`.

enum Globals {
    static func all(now: Date) -> [String: Value] {
        [
            "range": function("range", range),
            "dict": function("dict") { _, kwargs in .object(OrderedDictionary(kwargs)) },
            "namespace": .callable(Callable(name: "namespace") { args, kwargs, renderer in
                var attributes = OrderedDictionary()
                for a in args {
                    guard case .object(let o) = a else { throw ChatTemplateError.type("namespace() takes a mapping") }
                    for (k, v) in o.pairs { attributes[k] = v }
                }
                for (k, v) in kwargs { attributes[k] = v }
                let namespace = Namespace(attributes)
                renderer.adopt(namespace)
                return .namespace(namespace)
            }),
            "raise_exception": function("raise_exception") { args, kwargs in
                throw ChatTemplateError.raised((args.first ?? kwargs.first?.1 ?? .string("")).pythonStr)
            },
            "strftime_now": function("strftime_now") { args, _ in
                guard case .string(let format)? = args.first else { throw ChatTemplateError.type("strftime_now() takes a format string") }
                return .string(Strftime.format(now, format))
            },
        ]
    }

    private static func function(_ name: String, _ body: @escaping @Sendable ([Value], [(String, Value)]) throws -> Value) -> Value {
        .callable(Callable(name: name) { args, kwargs, _ in try body(args, kwargs) })
    }

    /// Python `range(stop)` / `range(start, stop[, step])` as a list.
    private static func range(_ args: [Value], _ kwargs: [(String, Value)]) throws -> Value {
        let ints = try args.map { v -> Int in
            guard case .int(let i)? = v.numeric else {
                throw ChatTemplateError.type("'\(v.pythonTypeName)' object cannot be interpreted as an integer")
            }
            return i
        }
        let (start, stop, step): (Int, Int, Int)
        switch ints.count {
        case 1: (start, stop, step) = (0, ints[0], 1)
        case 2: (start, stop, step) = (ints[0], ints[1], 1)
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw ChatTemplateError.type("range expected 1 to 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw ChatTemplateError.value("range() arg 3 must not be zero") }
        var out: [Value] = []
        var i = start
        while step > 0 ? i < stop : i > stop {
            out.append(.int(i))
            i += step
            // jinja2's sandbox caps ranges at MAX_RANGE items.
            if out.count > 100_000 { throw ChatTemplateError.security("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).") }
        }
        return .array(out)
    }
}
