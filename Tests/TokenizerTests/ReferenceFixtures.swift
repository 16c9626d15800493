import Foundation
import TestSupport
import Tokenizer
import XCTest

/// Reference data from HF `tokenizers` (Rust), produced by scripts/tokenizer-fixtures.py into
/// $LATENTSERVE_CACHE/tokenizer-fixtures (default ~/.cache/latentserve); the script skips variants whose
/// stamp is current. Failing to produce them fails the test.
enum ReferenceFixtures {
    static let corpusSize = 10_000

    struct Case {
        let text: String
        let ids: [Int]
        let idsSpecial: [Int]
        let decoded: String
        let decodedSkip: String
    }

    static var packageRoot: URL { FixtureCommand.packageRoot }
    static var cacheDir: URL { FixtureCommand.cacheDirectory.appendingPathComponent("tokenizer-fixtures") }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var produced: Result<URL, Error>?

    struct SetupFailed: Error, CustomStringConvertible { let description: String }

    /// Runs the setup script once per process; returns the fixture directory.
    static func directory() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let produced { return try produced.get() }
        let result = Result { try runSetup() }
        produced = result
        return try result.get()
    }

    private static func run(_ arguments: [String]) throws -> String { try FixtureCommand.run(arguments) }

    private static func runSetup() throws -> URL {
        let src = try run(["bash", "scripts/python-env", "llama-cpp-src"])
        let python = try run(["bash", "scripts/python-env", "venv", "tokenizers==0.23.3", "gguf", "tiktoken==0.14.0"])
        _ = try run([python, "scripts/tokenizer-fixtures.py", src, cacheDir.path, String(corpusSize)])
        return cacheDir
    }

    static func cases(_ variant: String) throws -> (folder: URL, inpCount: Int, cases: [Case]) {
        let folder = try directory().appendingPathComponent(variant)
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        let json = try JSONValue.parse(Array(data), file: "expected.json")
        guard let list = json["cases"]?.array else { throw SetupFailed(description: "expected.json without cases") }
        let cases = try list.map { c -> Case in
            guard let text = c["text"]?.string, let ids = c["ids"]?.array?.compactMap(\.int),
                  let idsSpecial = c["ids_special"]?.array?.compactMap(\.int),
                  let decoded = c["decoded"]?.string, let decodedSkip = c["decoded_skip"]?.string else {
                throw SetupFailed(description: "malformed case in \(variant)/expected.json")
            }
            return Case(text: text, ids: ids, idsSpecial: idsSpecial, decoded: decoded, decodedSkip: decodedSkip)
        }
        return (folder, json["inp_count"]?.int ?? 0, cases)
    }
}

/// Strict string equality: same scalars (Swift's `==` would accept canonically equivalent strings).
func sameScalars(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }
