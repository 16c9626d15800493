// Python `str` operations on code points (Swift's String works on grapheme clusters, Python on code points).

enum PyStr {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }
    static func string<C: Collection>(_ s: C) -> String where C.Element == Unicode.Scalar {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return String(v)
    }

    /// Index of the first `needle` at or after `from` (code points), like `str.find`.
    static func find(_ haystack: String, _ needle: String, from: Int = 0) -> Int? {
        find(scalars(haystack), scalars(needle), from: from)
    }

    static func find(_ h: Scalars, _ n: Scalars, from: Int = 0) -> Int? {
        guard n.count <= h.count else { return nil }
        var i = max(0, from)
        while i + n.count <= h.count {
            if h[i..<i + n.count].elementsEqual(n) { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ h: Scalars, _ n: Scalars) -> Int? {
        guard n.count <= h.count else { return nil }
        var i = h.count - n.count
        while i >= 0 {
            if h[i..<i + n.count].elementsEqual(n) { return i }
            i -= 1
        }
        return nil
    }

    static func isSpace(_ c: Unicode.Scalar) -> Bool { PythonString.isSpace(c) }

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on whitespace runs and drops empty pieces.
    static func split(_ s: String, _ sep: String?, maxsplit: Int = -1) throws -> [String] {
        let h = scalars(s)
        guard let sep else {
            var parts: [String] = []
            var i = 0
            while i < h.count {
                while i < h.count && isSpace(h[i]) { i += 1 }
                if i == h.count { break }
                if maxsplit >= 0 && parts.count == maxsplit {
                    var end = h.count
                    while end > i && isSpace(h[end - 1]) { end -= 1 }
                    parts.append(string(h[i..<end]))
                    return parts
                }
                let start = i
                while i < h.count && !isSpace(h[i]) { i += 1 }
                parts.append(string(h[start..<i]))
            }
            return parts
        }
        let n = scalars(sep)
        guard !n.isEmpty else { throw ChatTemplateError.value("empty separator") }
        var parts: [String] = []
        var start = 0
        while maxsplit < 0 || parts.count < maxsplit, let i = find(h, n, from: start) {
            parts.append(string(h[start..<i]))
            start = i + n.count
        }
        parts.append(string(h[start...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, _ sep: String?, maxsplit: Int = -1) throws -> [String] {
        if maxsplit < 0 { return try split(s, sep) }
        let reversedParts = try split(string(scalars(s).reversed()), sep.map { string(scalars($0).reversed()) },
                                      maxsplit: maxsplit)
        return reversedParts.reversed().map { string(scalars($0).reversed()) }
    }

    /// `str.strip(chars)` / `lstrip` / `rstrip`.
    static func strip(_ s: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let h = scalars(s)
        let set = chars.map { Set(scalars($0)) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set?.contains(c) ?? isSpace(c) }
        var start = 0, end = h.count
        if leading { while start < end && strippable(h[start]) { start += 1 } }
        if trailing { while end > start && strippable(h[end - 1]) { end -= 1 } }
        return string(h[start..<end])
    }

    /// `str.replace(old, new, count)`.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let h = scalars(s), o = scalars(old), n = scalars(new)
        var out: Scalars = []
        var done = 0
        if o.isEmpty {
            for c in h {
                if count < 0 || done < count { out += n; done += 1 }
                out.append(c)
            }
            if count < 0 || done < count { out += n }
            return string(out)
        }
        var i = 0
        while i < h.count {
            if (count < 0 || done < count), i + o.count <= h.count, h[i..<i + o.count].elementsEqual(o) {
                out += n
                i += o.count
                done += 1
            } else {
                out.append(h[i])
                i += 1
            }
        }
        return string(out)
    }

    static func isCased(_ c: Unicode.Scalar) -> Bool {
        c.properties.isLowercase || c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter
    }

    /// `str.title()`: a cased letter after an uncased character starts a word.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
            previousCased = isCased(c)
        }
        return out
    }

    /// `str.capitalize()`: first character title-cased, the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        var out = ""
        for (i, c) in s.unicodeScalars.enumerated() {
            out += i == 0 ? c.properties.titlecaseMapping : c.properties.lowercaseMapping
        }
        return out
    }

    static func upper(_ s: String) -> String { s.unicodeScalars.map(\.properties.uppercaseMapping).joined() }
    static func lower(_ s: String) -> String { s.unicodeScalars.map(\.properties.lowercaseMapping).joined() }

    /// `str.splitlines()` (line boundaries as Python counts them).
    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        let h = scalars(s)
        var lines: [String] = []
        var start = 0, i = 0
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        while i < h.count {
            if breaks.contains(h[i].value) {
                var end = i + 1
                if h[i] == "\r" && end < h.count && h[end] == "\n" { end += 1 }
                lines.append(string(h[start..<(keepends ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < h.count { lines.append(string(h[start...])) }
        return lines
    }
}
