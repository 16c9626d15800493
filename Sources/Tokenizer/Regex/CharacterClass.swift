/// A set of Unicode scalars as Oniguruma (UTF-8, Ruby syntax, no ASCII-range option) defines them for the
/// tokenizer patterns: literal ranges, general categories (\p{L} ...), the Han script (\p{Han}),
/// \s (White_Space), \d (Nd), \w, and intersections (`[\p{L}&&[^\p{Han}]]`).
struct CharacterClass {
    enum Item {
        case range(UInt32, UInt32)
        /// Bit mask over `CharacterClass.categoryBit`.
        case categories(UInt32, negated: Bool)
        /// `\p{Han}`: the scalars of `CharacterClass.hanRanges`.
        case han(negated: Bool)
        case whitespace(negated: Bool)
        case word(negated: Bool)
        case decimalDigit(negated: Bool)
        case hexDigit(negated: Bool)
        /// A nested class, e.g. `[^...]` written inside another (Oniguruma set union).
        case nested(CharacterClass)
    }

    var items: [Item] = []
    /// The classes after each `&&` (`[a&&b&&c]`: items a, then b and c): a scalar is in the class when it
    /// is in `items` and in every one of these, before `negated` applies (Oniguruma and Rust's regex alike).
    var intersections: [CharacterClass] = []
    var negated = false
    var caseInsensitive = false

    func containsIgnoringCase(_ c: UInt32) -> Bool {
        if contains(c) { return true }
        guard caseInsensitive, let scalar = Unicode.Scalar(c) else { return false }
        for variant in CharacterClass.simpleCaseVariants(scalar) where variant != c {
            if contains(variant) { return true }
        }
        return false
    }

    func contains(_ c: UInt32) -> Bool {
        var hit = false
        for item in items {
            if CharacterClass.matches(item, c) { hit = true; break }
        }
        if hit { hit = intersections.allSatisfy { $0.containsIgnoringCase(c) } }
        return hit != negated
    }

    static func matches(_ item: Item, _ c: UInt32) -> Bool {
        switch item {
        case let .range(lo, hi): return c >= lo && c <= hi
        case let .categories(mask, negated):
            if c < CompiledClass.bitmapScalars { return (mask & 1 << UInt32(categoryTable[Int(c)]) != 0) != negated }
            guard let s = Unicode.Scalar(c) else { return negated }
            return (mask & categoryBit(s.properties.generalCategory) != 0) != negated
        case let .han(negated): return isHan(c) != negated
        case let .whitespace(negated):
            guard let s = Unicode.Scalar(c) else { return negated }
            return s.properties.isWhitespace != negated
        case let .word(negated):
            guard let s = Unicode.Scalar(c) else { return negated }
            // Oniguruma's \w: below U+0100 its ISO-8859-1 table (letters, all numbers such as ² and ¼,
            // '_'), above Alphabetic, marks, decimal digits and Pc.
            let p = s.properties
            let isWord: Bool
            if c < 0x100 {
                isWord = categoryBit(p.generalCategory) & latin1WordCategories != 0
            } else {
                isWord = p.isAlphabetic || categoryBit(p.generalCategory) & wordCategories != 0
            }
            return isWord != negated
        case let .decimalDigit(negated):
            guard let s = Unicode.Scalar(c) else { return negated }
            return (s.properties.generalCategory == .decimalNumber) != negated
        case let .hexDigit(negated):
            let isHex = (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c)
            return isHex != negated
        case let .nested(inner): return inner.containsIgnoringCase(c)
        }
    }

    /// Script=Han (Scripts.txt of Unicode 15.1, what Oniguruma in HF tokenizers and tiktoken's Rust regex
    /// both match: checked scalar by scalar when this table was written; Swift has no script property).
    static let hanRanges: [ClosedRange<UInt32>] = [
        0x2E80...0x2E99, 0x2E9B...0x2EF3, 0x2F00...0x2FD5, 0x3005...0x3005, 0x3007...0x3007, 0x3021...0x3029,
        0x3038...0x303B, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFA6D, 0xFA70...0xFAD9, 0x16FE2...0x16FE3,
        0x16FF0...0x16FF1, 0x20000...0x2A6DF, 0x2A700...0x2B739, 0x2B740...0x2B81D, 0x2B820...0x2CEA1,
        0x2CEB0...0x2EBE0, 0x2EBF0...0x2EE5D, 0x2F800...0x2FA1D, 0x30000...0x3134A, 0x31350...0x323AF,
    ]

    static func isHan(_ c: UInt32) -> Bool {
        guard c >= 0x2E80 else { return false }
        var lo = 0, hi = hanRanges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if hanRanges[mid].upperBound < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < hanRanges.count && hanRanges[lo].contains(c)
    }

    static let wordCategories = categoryMask("M") | categoryMask("Nd") | categoryMask("Pc")
    static let latin1WordCategories = categoryMask("L") | categoryMask("N") | categoryMask("Pc")

    /// Simple (one-scalar) case mappings, used for (?i:...).
    static func simpleCaseVariants(_ s: Unicode.Scalar) -> [UInt32] {
        var out: [UInt32] = []
        for mapped in [s.properties.lowercaseMapping, s.properties.uppercaseMapping, s.properties.titlecaseMapping] {
            let scalars = mapped.unicodeScalars
            if scalars.count == 1 { out.append(scalars.first!.value) }
        }
        return out
    }

    /// [0x30000]: bit index (`categoryBit`) of each scalar's general category; surrogates as Cs.
    static let categoryTable: [UInt8] = (0..<CompiledClass.bitmapScalars).map { c in
        guard let s = Unicode.Scalar(c) else { return 27 }
        return UInt8(categoryBit(s.properties.generalCategory).trailingZeroBitCount)
    }

    static let categoryOrder: [Unicode.GeneralCategory] = [
        .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
        .nonspacingMark, .spacingMark, .enclosingMark,
        .decimalNumber, .letterNumber, .otherNumber,
        .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
        .finalPunctuation, .otherPunctuation,
        .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol,
        .spaceSeparator, .lineSeparator, .paragraphSeparator,
        .control, .format, .surrogate, .privateUse, .unassigned,
    ]
    static let categoryShortNames = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
                                     "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
                                     "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]

    static func categoryBit(_ c: Unicode.GeneralCategory) -> UInt32 {
        switch c {
        case .uppercaseLetter: return 1 << 0
        case .lowercaseLetter: return 1 << 1
        case .titlecaseLetter: return 1 << 2
        case .modifierLetter: return 1 << 3
        case .otherLetter: return 1 << 4
        case .nonspacingMark: return 1 << 5
        case .spacingMark: return 1 << 6
        case .enclosingMark: return 1 << 7
        case .decimalNumber: return 1 << 8
        case .letterNumber: return 1 << 9
        case .otherNumber: return 1 << 10
        case .connectorPunctuation: return 1 << 11
        case .dashPunctuation: return 1 << 12
        case .openPunctuation: return 1 << 13
        case .closePunctuation: return 1 << 14
        case .initialPunctuation: return 1 << 15
        case .finalPunctuation: return 1 << 16
        case .otherPunctuation: return 1 << 17
        case .mathSymbol: return 1 << 18
        case .currencySymbol: return 1 << 19
        case .modifierSymbol: return 1 << 20
        case .otherSymbol: return 1 << 21
        case .spaceSeparator: return 1 << 22
        case .lineSeparator: return 1 << 23
        case .paragraphSeparator: return 1 << 24
        case .control: return 1 << 25
        case .format: return 1 << 26
        case .surrogate: return 1 << 27
        case .privateUse: return 1 << 28
        case .unassigned: return 1 << 29
        @unknown default: return 1 << 29
        }
    }

    /// Mask for a property name as written in \p{...}: one- or two-letter category or its long name.
    static func categoryMask(_ name: String) -> UInt32 {
        let longNames: [String: String] = [
            "letter": "L", "mark": "M", "number": "N", "punctuation": "P", "symbol": "S", "separator": "Z",
            "other": "C", "uppercaseletter": "Lu", "lowercaseletter": "Ll", "titlecaseletter": "Lt",
            "modifierletter": "Lm", "otherletter": "Lo", "nonspacingmark": "Mn", "spacingmark": "Mc",
            "enclosingmark": "Me", "decimalnumber": "Nd", "letternumber": "Nl", "othernumber": "No",
            "connectorpunctuation": "Pc", "dashpunctuation": "Pd", "openpunctuation": "Ps",
            "closepunctuation": "Pe", "initialpunctuation": "Pi", "finalpunctuation": "Pf",
            "otherpunctuation": "Po", "mathsymbol": "Sm", "currencysymbol": "Sc", "modifiersymbol": "Sk",
            "othersymbol": "So", "spaceseparator": "Zs", "lineseparator": "Zl", "paragraphseparator": "Zp",
            "control": "Cc", "format": "Cf", "surrogate": "Cs", "privateuse": "Co", "unassigned": "Cn",
        ]
        let squashed = name.lowercased().filter { $0 != "_" && $0 != " " && $0 != "-" }
        let short = longNames[squashed] ?? name
        var mask: UInt32 = 0
        for (i, n) in categoryShortNames.enumerated() where n == short || (short.count == 1 && n.hasPrefix(short)) {
            mask |= 1 << UInt32(i)
        }
        if short == "L&" || squashed == "casedletter" || short == "LC" { mask = 0b111 }
        return mask
    }
}

/// A class compiled for matching: a bitmap over planes 0-2 (where all assigned letters, digits and
/// symbols but plane-3 CJK live), evaluation above.
final class CompiledClass {
    static let bitmapScalars: UInt32 = 0x30000
    static let bitmapWords = Int(bitmapScalars / 64)

    let source: CharacterClass
    let bits: [UInt64]  // [bitmapWords], bit c set when scalar c is in the class

    init(_ source: CharacterClass) {
        self.source = source
        bits = CompiledClass.bitmap(source)
    }

    /// The same set as `cls.containsIgnoringCase` on every scalar below `bitmapScalars`, built from
    /// whole-word ORs of `PropertyBitmaps` (not a property lookup per scalar per class, which cost
    /// every tokenizer.json load milliseconds per regex).
    private static func bitmap(_ cls: CharacterClass) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: bitmapWords)
        let top = bitmapScalars - 1
        for item in cls.items {
            switch item {
            case let .range(lo, hi):
                guard lo <= top else { continue }
                for c in lo...min(hi, top) { bits[Int(c >> 6)] |= 1 << UInt64(c & 63) }
            case let .nested(inner):
                union(bitmap(inner), negated: false, into: &bits)
            case let .categories(mask, negated):
                var members = [UInt64](repeating: 0, count: bitmapWords)
                for (k, category) in PropertyBitmaps.categories.enumerated() where mask & 1 << UInt32(k) != 0 {
                    union(category, negated: false, into: &members)
                }
                union(members, negated: negated, into: &bits)
            case let .han(negated):
                var members = [UInt64](repeating: 0, count: bitmapWords)
                for r in CharacterClass.hanRanges where r.lowerBound <= top {
                    for c in r.lowerBound...min(r.upperBound, top) { members[Int(c >> 6)] |= 1 << UInt64(c & 63) }
                }
                union(members, negated: negated, into: &bits)
            case let .whitespace(negated):
                union(PropertyBitmaps.whitespace, negated: negated, into: &bits)
            case let .word(negated):
                union(PropertyBitmaps.word, negated: negated, into: &bits)
            case let .decimalDigit(negated):
                union(PropertyBitmaps.categories[Int(CharacterClass.categoryBit(.decimalNumber).trailingZeroBitCount)],
                      negated: negated, into: &bits)
            case .hexDigit:
                for c in 0...top where CharacterClass.matches(item, c) { bits[Int(c >> 6)] |= 1 << UInt64(c & 63) }
            }
        }
        for other in cls.intersections {
            let theirs = bitmap(other)
            for i in 0..<bitmapWords { bits[i] &= theirs[i] }
        }
        if cls.negated { for i in 0..<bitmapWords { bits[i] = ~bits[i] } }
        guard cls.caseInsensitive else { return bits }
        // (?i): a scalar is in when it is, or when one of its simple case variants is.
        let exact = bits
        func has(_ v: UInt32) -> Bool { v < bitmapScalars ? exact[Int(v >> 6)] >> UInt64(v & 63) & 1 != 0 : cls.contains(v) }
        for (c, variants) in PropertyBitmaps.caseVariants where variants.contains(where: has) {
            bits[Int(c >> 6)] |= 1 << UInt64(c & 63)
        }
        return bits
    }

    private static func union(_ source: [UInt64], negated: Bool, into bits: inout [UInt64]) {
        for i in 0..<bitmapWords { bits[i] |= negated ? ~source[i] : source[i] }
    }
}

/// What `CharacterClass.matches` asks of each scalar below `CompiledClass.bitmapScalars`, worked out
/// once per process as bitmaps (non-scalars, i.e. surrogates, in none of them but `Cs`).
enum PropertyBitmaps {
    /// [categoryShortNames.count][bitmapWords]: the scalars of each general category, by `categoryBit` index.
    static let categories: [[UInt64]] = {
        var maps = [[UInt64]](repeating: [UInt64](repeating: 0, count: CompiledClass.bitmapWords),
                              count: CharacterClass.categoryShortNames.count)
        for (c, k) in CharacterClass.categoryTable.enumerated() { maps[Int(k)][c >> 6] |= 1 << UInt64(c & 63) }
        return maps
    }()

    /// `\s` (White_Space).
    static let whitespace = scalars { CharacterClass.matches(.whitespace(negated: false), $0) }

    /// `\w` as Oniguruma defines it (see `CharacterClass.matches`).
    static let word = scalars { CharacterClass.matches(.word(negated: false), $0) }

    /// Each scalar with a simple case variant other than itself, and those variants.
    static let caseVariants: [(UInt32, [UInt32])] = (0..<CompiledClass.bitmapScalars).compactMap { c in
        guard let scalar = Unicode.Scalar(c) else { return nil }
        let variants = CharacterClass.simpleCaseVariants(scalar).filter { $0 != c }
        return variants.isEmpty ? nil : (c, variants)
    }

    private static func scalars(where test: (UInt32) -> Bool) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: CompiledClass.bitmapWords)
        for c in 0..<CompiledClass.bitmapScalars where test(c) { bits[Int(c >> 6)] |= 1 << UInt64(c & 63) }
        return bits
    }
}
