// The filters that walk a sequence: map, select/reject(attr), sort, unique, min/max, dictsort, sum.

enum Sequences {
    static func call(_ name: String, _ value: Value, _ args: [Value], _ kwargs: [(String, Value)], renderer: Renderer)
        throws -> Value
    {
        let p = { (names: [String]) in Filters.Parameters(args: args, kwargs: kwargs, names: names) }
        switch name {
        case "map":
            // jinja2's do_map and select_or_reject start with `if value:`, so None maps to nothing.
            let items = value.truthy ? try renderer.iterate(value, line: 0) : []
            if args.isEmpty, let attribute = kwargs.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = kwargs.first { $0.0 == "default" }?.1
                return .iterator("generator", try items.map { item in
                    let v = try Filters.attributePath(item, attribute)
                    if v.isUndefined, let fallback { return fallback }
                    return v
                })
            }
            guard let filter = args.first else { throw ChatTemplateError.type("map requires a filter argument") }
            let filterName = filter.pythonStr
            guard Filters.names.contains(filterName) else { throw ChatTemplateError.runtime("No filter named '\(filterName)'.") }
            return .iterator("generator", try items.map { try Filters.call(filterName, $0, Array(args.dropFirst()), kwargs, renderer: renderer) })
        case "select", "reject", "selectattr", "rejectattr":
            let byAttribute = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            var rest = args
            let attribute: Value? = byAttribute ? (rest.isEmpty ? nil : rest.removeFirst()) : nil
            if byAttribute && attribute == nil { throw ChatTemplateError.type("Missing parameter for attribute name") }
            let test = rest.isEmpty ? nil : rest.removeFirst().pythonStr
            if let test, !Tests.names.contains(test) { throw ChatTemplateError.runtime("No test named '\(test)'.") }
            return .iterator("generator", try (value.truthy ? renderer.iterate(value, line: 0) : []).filter { item in
                let subject = try attribute.map { try Filters.attributePath(item, $0) } ?? item
                let passed = try test.map { try Tests.run($0, subject, rest, kwargs, renderer: renderer) } ?? subject.truthy
                return passed == keep
            })
        case "sort":
            let q = p(["reverse", "case_sensitive", "attribute"])
            let items = try renderer.iterate(value, line: 0)
            let keys = try items.map { try key($0, q.value("attribute"), caseSensitive: q.bool("case_sensitive", false)) }
            let order = try stableSort(Array(items.indices)) { try less(keys[$0], keys[$1]) }
            return .array((q.bool("reverse", false) ? try reverseStable(order, keys) : order).map { items[$0] })
        case "unique":
            let q = p(["case_sensitive", "attribute"])
            var seen: [Value] = []
            var out: [Value] = []
            for item in try renderer.iterate(value, line: 0) {
                let k = try key(item, q.value("attribute"), caseSensitive: q.bool("case_sensitive", false))
                try k.requireHashable()
                if !seen.contains(where: { $0.pythonEquals(k) }) { seen.append(k); out.append(item) }
            }
            return .iterator("generator", out)
        case "min", "max":
            let q = p(["case_sensitive", "attribute"])
            let items = try renderer.iterate(value, line: 0)
            guard var best = items.first else { return .undefined("No aggregated item, sequence was empty.") }
            let sensitive = q.bool("case_sensitive", false)
            var bestKey = try key(best, q.value("attribute"), caseSensitive: sensitive)
            for item in items.dropFirst() {
                let k = try key(item, q.value("attribute"), caseSensitive: sensitive)
                if name == "min" ? try less(k, bestKey) : try less(bestKey, k) { best = item; bestKey = k }
            }
            return best
        case "dictsort":
            let q = p(["case_sensitive", "by", "reverse"])
            guard case .object(let o) = value else {
                throw ChatTemplateError.python("AttributeError", "'\(value.pythonTypeName)' object has no attribute 'items'")
            }
            let byValue = q.string("by", "key") == "value"
            let pairs = o.entries
            let keys = pairs.map { caseFold(byValue ? $0.1 : $0.0, q.bool("case_sensitive", false)) }
            var order = try stableSort(Array(pairs.indices)) { try less(keys[$0], keys[$1]) }
            if q.bool("reverse", false) { order = try reverseStable(order, keys) }
            return .array(order.map { .tuple([pairs[$0].0, pairs[$0].1]) })
        case "sum":
            let q = p(["attribute", "start"])
            var total = q.value("start") ?? .int(0)
            for item in try renderer.iterate(value, line: 0) {
                total = try Operators.binary(.add, total, try q.value("attribute").map { try Filters.attributePath(item, $0) } ?? item)
            }
            return total
        default:
            throw ChatTemplateError.syntax("unsupported filter '\(name)'", line: 0)
        }
    }

    private static func caseFold(_ v: Value, _ caseSensitive: Bool) -> Value {
        if !caseSensitive, case .string(let s) = v { return .string(PyStr.lower(s)) }
        return v
    }

    private static func key(_ item: Value, _ attribute: Value?, caseSensitive: Bool) throws -> Value {
        caseFold(try attribute.map { try Filters.attributePath(item, $0) } ?? item, caseSensitive)
    }

    private static func less(_ a: Value, _ b: Value) throws -> Bool {
        guard let r = a.pythonLess(b) else {
            throw ChatTemplateError.type("'<' not supported between instances of '\(a.pythonTypeName)' and '\(b.pythonTypeName)'")
        }
        return r
    }

    /// Python's `sorted` is stable; so is a merge sort.
    private static func stableSort(_ xs: [Int], by less: (Int, Int) throws -> Bool) throws -> [Int] {
        guard xs.count > 1 else { return xs }
        let mid = xs.count / 2
        let left = try stableSort(Array(xs[..<mid]), by: less), right = try stableSort(Array(xs[mid...]), by: less)
        var out: [Int] = []
        var i = 0, j = 0
        while i < left.count && j < right.count {
            if try less(right[j], left[i]) { out.append(right[j]); j += 1 } else { out.append(left[i]); i += 1 }
        }
        return out + left[i...] + right[j...]
    }

    /// `sorted(reverse=True)` keeps equal keys in their original order.
    private static func reverseStable(_ order: [Int], _ keys: [Value]) throws -> [Int] {
        var groups: [[Int]] = []
        for i in order {
            if let last = groups.last?.last, keys[last].pythonEquals(keys[i]) { groups[groups.count - 1].append(i) }
            else { groups.append([i]) }
        }
        return groups.reversed().flatMap { $0 }
    }
}
