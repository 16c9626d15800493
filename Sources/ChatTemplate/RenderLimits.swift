// What one parse or render may build. jinja2 has no such limits of its own (Python stops at its
// recursion limit, or runs out of memory or time); a real chat template stays far below each, and a
// template past one fails with a ChatTemplateError instead of overflowing the stack, taking gigabytes
// or running for minutes (all found or foreseen by scripts/fuzz).

enum RenderLimits {
    /// Parser recursion: each bracket level counts twice (expression and operand), each statement
    /// or `not` once. jinja2 fails earlier: Python's recursion limit stops it at fewer than 100
    /// nested parentheses or `if` blocks.
    static let maxNesting = 200
    /// Depth of an expression's tree, which chains such as `a+b+c+…`, `x|f|g|…` or `a.b.c.…` grow
    /// without parsing recursion (evaluating and freeing recurse that deep); jinja2 renders a chain
    /// of 300 `+` and fails at 500.
    static let maxExpressionDepth = 400
    /// Macro calls inside one another (a macro that calls itself): Python's RecursionError.
    static let maxMacroDepth = 50
    /// for-loop iterations in one render, all loops together (a `range` alone may have 100,000).
    static let maxLoopIterations = 1_000_000
    /// UTF-8 bytes of any string a render builds, the output included.
    static let maxStringBytes = 32 << 20
    /// Items of a list built by repetition.
    static let maxListItems = 1 << 20

    static func checkString(bytes: Int) throws {
        guard bytes <= maxStringBytes else {
            throw ChatTemplateError.python("MemoryError", "a string of \(bytes) bytes (this engine builds at most \(maxStringBytes))")
        }
    }

    /// `count` copies of something `size` long, checked before building it (no overflow).
    static func checkRepetition(_ size: Int, times count: Int, limit: Int) throws {
        guard count <= 0 || size <= limit / count else {
            throw ChatTemplateError.python("MemoryError", "\(count) repetitions of \(size) (this engine builds at most \(limit))")
        }
    }
}
