extension JSONSchema {
    /// What a string's value must be: a pattern (`pattern`, found anywhere unless anchored:
    /// `RegexAutomaton(search:)`; or a `format`'s, matched whole) and `minLength` / `maxLength` in
    /// characters, checked on the decoded characters as they are written. With a pattern, a length bound
    /// is checked against the fewest / most characters that can still complete a match (both bounds:
    /// against the set of such lengths), so the mask never walks into a string it cannot finish.
    struct StringRule: Sendable {
        let pattern: RegexAutomaton?
        let minLength: Int
        let maxLength: Int
        /// [pattern states] `RegexAutomaton.completionLengths()`, when one bound needs them; else empty.
        let shortest: [Int32], longest: [Int32]
        /// With both bounds: `RegexAutomaton.completionLengthSets(upTo: maxLength)`; else empty.
        let lengthSets: [UInt64], wordsPerState: Int

        /// Why a pattern and lengths cannot be served together (both bounds on a pattern too large to
        /// tabulate, or no match within them).
        enum Conflict: Error { case bothBounds, nothingFits }

        init(pattern: RegexAutomaton?, minLength: Int, maxLength: Int) throws(Conflict) {
            self.pattern = pattern
            guard let pattern, minLength > 0 || maxLength < Int.max else {
                (self.minLength, self.maxLength, shortest, longest, lengthSets, wordsPerState) = (minLength, maxLength, [], [], [], 0)
                return
            }
            let (shortest, longest) = pattern.completionLengths()
            let start = Int(pattern.start)
            // A bound every match keeps anyway is dropped. One bound is checked against the fewest / most
            // characters still to come; with both, the lengths a state can still reach need not form an
            // interval (`(ab)*`), so each state's set of them up to maxLength is kept.
            let minLength = minLength <= Int(shortest[start]) ? 0 : minLength
            let maxLength = longest[start] != .max && Int(longest[start]) <= maxLength ? Int.max : maxLength
            (self.minLength, self.maxLength) = (minLength, maxLength)
            if minLength > 0 && maxLength < Int.max {
                guard let sets = pattern.completionLengthSets(upTo: maxLength) else { throw .bothBounds }
                (self.shortest, self.longest, lengthSets, wordsPerState) = ([], [], sets.bits, sets.words)
            } else {
                let bounded = minLength > 0 || maxLength < Int.max
                (self.shortest, self.longest, lengthSets, wordsPerState) = (bounded ? shortest : [], bounded ? longest : [], [], 0)
            }
            guard fits(RegexState(pattern), characters: 0) else { throw .nothingFits }
        }

        /// Whether a string with `characters` written, its pattern at `state`, can still end within the
        /// bounds.
        func fits(_ state: RegexState?, characters: Int) -> Bool {
            guard let state, !shortest.isEmpty || !lengthSets.isEmpty else { return characters <= maxLength }
            let s = Int(state.state)
            if !lengthSets.isEmpty {
                // A completion of k characters with minLength ≤ characters + k ≤ maxLength.
                let low = Swift.max(0, minLength - characters), high = maxLength - characters
                guard low <= high else { return false }
                for w in (low / 64)...(high / 64) {
                    // The bits of word w within low...high.
                    let from = w == low / 64 ? low % 64 : 0, to = w == high / 64 ? high % 64 : 63
                    let mask = (to == 63 ? ~UInt64(0) : (UInt64(1) << UInt64(to + 1)) - 1) & ~((UInt64(1) << UInt64(from)) - 1)
                    if lengthSets[s * wordsPerState + w] & mask != 0 { return true }
                }
                return false
            }
            if maxLength < Int.max && characters + Int(shortest[s]) > maxLength { return false }
            if minLength > 0 && longest[s] != .max && characters + Int(longest[s]) < minLength { return false }
            return true
        }
    }

    /// The string formats a served schema enforces (`format`), each a pattern matched whole and a length
    /// bound, as the `jsonschema` package's format checker reads them, written in one form where it takes
    /// several: `T` and `Z` upper case, no year 0000 (Python's `date` has none), a hostname without its
    /// trailing dot, duration numbers of at most 6 digits (what pydantic's timedelta holds). `email` is
    /// an RFC 5322 dot-atom, `@`, and a hostname of two or more labels whose last ends in a letter (what
    /// the jsonschema package checks — an `@` — and email-validator's shape; its special-use names such as
    /// `.test` are not excluded, nor a local part over 64 characters). `uri` is an http(s) URL without
    /// port or user: a host (a hostname whose last label starts with a letter — the WHATWG parser pydantic
    /// uses reads a numeric one as IPv4 — or an IPv4 address), then RFC 3986's path, query and fragment
    /// characters (what pydantic's AnyUrl and HttpUrl take). `password` and `binary` (OpenAPI's, pydantic's
    /// SecretStr and bytes) are any string.
    enum StringFormat: String, CaseIterable, Sendable {
        case date, time, dateTime = "date-time", duration, uuid, ipv4, ipv6, hostname, email, uri, password, binary

        static let names = allCases.map(\.rawValue).joined(separator: ", ")

        var maxLength: Int {
            switch self {
            case .hostname: return 253
            case .email: return 254
            default: return Int.max
            }
        }

        /// Python `re` syntax, matched whole; nil: any string.
        var pattern: String? {
            let digit = "[0-9]", hex = "[0-9A-Fa-f]"
            let year = "(?:\(digit){3}[1-9]|\(digit){2}[1-9]\(digit)|\(digit)[1-9]\(digit){2}|[1-9]\(digit){3})"   // 0001–9999
            let leapYear = "(?:\(digit){2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
            let monthDay = "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\(digit)|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\(digit)|30)|02-(?:0[1-9]|1\(digit)|2[0-8]))"
            let date = "(?:\(year)-\(monthDay)|\(leapYear)-02-29)"
            let hour = "(?:[01]\(digit)|2[0-3])", minute = "[0-5]\(digit)"
            let time = "\(hour):\(minute):\(minute)(?:\\.\(digit)+)?(?:Z|[+-]\(hour):\(minute))"
            let octet = "(?:25[0-5]|2[0-4]\(digit)|1\(digit){2}|[1-9]?\(digit))"
            let ipv4 = "\(octet)(?:\\.\(octet)){3}"
            let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
            switch self {
            case .date: return date
            case .time: return time
            case .dateTime: return "\(date)T\(time)"
            case .duration:
                let n = "\(digit){1,6}"
                let second = "\(n)S", minute = "\(n)M(?:\(second))?", hour = "\(n)H(?:\(minute))?"
                let timePart = "T(?:\(hour)|\(minute)|\(second))"
                let day = "\(n)D", month = "\(n)M(?:\(day))?", year = "\(n)Y(?:\(month))?"
                return "P(?:(?:\(day)|\(month)|\(year))(?:\(timePart))?|\(timePart)|\(n)W)"   // RFC 3339 appendix A
            case .uuid: return "\(hex){8}-\(hex){4}-\(hex){4}-\(hex){4}-\(hex){12}"
            case .ipv4: return ipv4
            case .ipv6:
                // RFC 3986's IPv6address: h16 groups, one `::`, an IPv4 tail in place of the last two.
                let h16 = "\(hex){1,4}", ls32 = "(?:\(h16):\(h16)|\(ipv4))"
                func groups(_ n: Int) -> String { n == 0 ? "" : "(?:\(h16):){\(n)}" }
                func head(_ n: Int) -> String { n < 0 ? "" : "(?:(?:\(h16):){0,\(n)}\(h16))?" }
                let forms = ["\(groups(6))\(ls32)", "::\(groups(5))\(ls32)", "\(head(0))::\(groups(4))\(ls32)",
                             "\(head(1))::\(groups(3))\(ls32)", "\(head(2))::\(groups(2))\(ls32)",
                             "\(head(3))::\(groups(1))\(ls32)", "\(head(4))::\(ls32)", "\(head(5))::\(h16)", "\(head(6))::"]
                return "(?:" + forms.joined(separator: "|") + ")"
            case .hostname: return "\(label)(?:\\.\(label))*"
            case .email:
                let atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
                return "\(atext)+(?:\\.\(atext)+)*@(?:\(label)\\.)+(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"
            case .uri:
                let host = "(?:(?:\(label)\\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?|\(ipv4))"
                let pchar = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%\(hex){2})"
                return "https?://\(host)(?:/\(pchar)*)*(?:\\?(?:\(pchar)|[/?])*)?(?:#(?:\(pchar)|[/?])*)?"
            case .password, .binary: return nil
            }
        }

        /// The compiled pattern of each format that has one, built once per process.
        static let automata: [StringFormat: RegexAutomaton] = {
            var built: [StringFormat: RegexAutomaton] = [:]
            for format in allCases {
                guard let pattern = format.pattern else { continue }
                // Constant patterns (StringFormatTests compiles each): a failure is a bug here, not input.
                built[format] = try! RegexAutomaton(pattern: pattern)
            }
            return built
        }()
    }
}
