import FuzzSupport
import StructuredOutput

/// The GBNF parser and matcher (a request's `structured_outputs.grammar`): the input up to its first NUL
/// is the grammar's text, the rest the bytes a walk feeds it. Either a GrammarError or a grammar whose walk
/// takes or refuses every byte — never a crash, a hang or unbounded memory (the matcher's bounds).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrammar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let split = input.firstIndex(of: 0) ?? input.count
    let text = String(decoding: input[..<split], as: UTF8.self)
    guard let grammar = try? GBNFGrammar(text) else { return 0 }   // typed throws: only GrammarError
    let matcher = GBNFMatcher(grammar)
    var state = matcher.startState
    for byte in input[min(split + 1, input.count)...] {
        var next = state
        if next.accept(byte, in: matcher) {
            state = next
        } else {
            precondition(next == state, "a refused byte changed the state")
        }
    }
    _ = state.canEnd(in: matcher)
    return 0
}
