import Foundation
import FuzzSupport
@testable import Tokenizer

/// tokenizer.json, tiktoken folders and the text paths, by the first byte:
///   0: the rest is a tokenizer.json to load (then encode and decode a fixed sentence with it);
///   1: the rest is text for the built-in tokenizer: encode (with and without special tokens), decode;
///   2: the rest is token ids (u16 LE, some outside the vocabulary): decode at once and incrementally;
///   3: the rest is a tiktoken folder's tiktoken.model, tokenization_*.py and tokenizer_config.json,
///      separated by NUL bytes: loaded (then the fixed sentence encoded and decoded).
/// Loading either builds a tokenizer or throws TokenizerError; encoding gives ids in the vocabulary.
private let builtin = try! Tokenizer(folder: URL(fileURLWithPath: fuzzModelFolder()))
/// One past the highest id with a token (added tokens included).
private let vocabulary = (0..<1 << 20).last { builtin.token(for: $0) != nil }! + 1

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = ByteCursor(UnsafeRawBufferPointer(start: data, count: size))
    switch input.byte() % 4 {
    case 0:
        let json = Data(input.remaining)
        do {
            let tokenizer = try Tokenizer(tokenizerJSON: json)
            _ = tokenizer.decode(tokenizer.encode("Hello wörld 123 <|x|>\n", addSpecialTokens: true), skipSpecialTokens: false)
        } catch is TokenizerError {
        } catch {
            preconditionFailure("Tokenizer threw a non-TokenizerError: \(error)")
        }
    case 1:
        let text = String(decoding: input.remaining, as: UTF8.self)
        for addSpecial in [false, true] {
            let ids = builtin.encode(text, addSpecialTokens: addSpecial)
            precondition(ids.allSatisfy { $0 >= 0 && $0 < vocabulary }, "encode produced an id outside the vocabulary")
            _ = builtin.decode(ids, skipSpecialTokens: addSpecial)
        }
    case 3:
        let parts = input.remaining.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        do {
            let config = parts.count > 2 ? try JSONValue.parse(Array(parts[2]), file: "tokenizer_config.json") : .object([])
            let module = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
            let files = try TikTokenFolder(vocabulary: parts.first.map { Array($0) } ?? [], module: ("tokenization_fuzz.py", module), config: config)
            let tokenizer = try Tokenizer(tiktoken: files, config: TokenizerConfig())
            let ids = tokenizer.encode("Hello wörld 123 <|im_end|> 你好\n", addSpecialTokens: true)
            precondition(ids.allSatisfy { tokenizer.token(for: $0) != nil }, "encode produced an id without a token")
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
        } catch is TokenizerError {
        } catch {
            preconditionFailure("tiktoken loading threw a non-TokenizerError: \(error)")
        }
    default:
        var ids: [Int] = []
        while !input.isAtEnd { ids.append(input.uint16() % (vocabulary + 8)) }
        _ = builtin.decode(ids, skipSpecialTokens: false)
        var stream = IncrementalDetokenizer(tokenizer: builtin)
        for id in ids { _ = stream.append(id) }
        _ = stream.finish()
    }
    return 0
}
