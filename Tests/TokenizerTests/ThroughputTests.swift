import Foundation
import Tokenizer
import XCTest

/// Encode speed on one core, in CPU time of this thread (the test machine is shared). Two inputs:
/// the generated corpus (adversarial: random scalars, emoji, ~0.6 tokens per byte) and the
/// repository's own prose + code (Markdown docs and Swift sources, the kind of text a server sees).
/// Run optimised for the number that counts (other test targets use @testable, hence -enable-testing):
///   swift test -c release -Xswiftc -enable-testing --filter TokenizerTests.ThroughputTests
/// The 5 MB/s floor is asserted on the cold-cache runs of both inputs, in release builds only.
final class ThroughputTests: XCTestCase {
    static let requiredMBPerSecond = 5.0

    func testEncodeThroughput() throws { try measure("deepseek-v3") }

    /// A tiktoken folder (Llama 3's 128,000 ranks, Kimi's pattern with its && classes).
    func testTikTokenEncodeThroughput() throws { try measure("kimi-tiktoken") }

    private func measure(_ variant: String) throws {
        let (folder, _, cases) = try ReferenceFixtures.cases(variant)
        // The fixture's runs of 25,000+ characters are not the text a server sees.
        let corpus = cases.map(\.text).filter { $0.unicodeScalars.count < 25_000 }
        let prose = try repositoryText()

        for (name, texts) in [("generated corpus", corpus), ("repository prose+code", prose)] {
            let tokenizer = try Tokenizer(folder: folder)  // cold cache
            let bytes = texts.reduce(0) { $0 + $1.utf8.count }
            var rates: [Double] = []
            for _ in 0..<3 {
                let start = threadCPUSeconds()
                var tokens = 0
                for t in texts { tokens += tokenizer.encode(t, addSpecialTokens: false).count }
                rates.append(Double(bytes) / (threadCPUSeconds() - start) / 1e6)
                XCTAssertGreaterThan(tokens, 0)
            }
            let line = String(format: "tokenizer throughput %@, %@: %d bytes, cold %.1f MB/s, warm %.1f MB/s (CPU time, one core)\n",
                              variant, name, bytes, rates[0], rates[1...].max()!)
            FileHandle.standardError.write(Data(line.utf8))
            #if !DEBUG
            XCTAssertGreaterThanOrEqual(rates[0], Self.requiredMBPerSecond, "cold-cache encode of the \(name) (\(variant)) slower than required")
            #endif
        }
    }

    /// Markdown and Swift files of the repository, one string per line-block of ~2 KB.
    private func repositoryText() throws -> [String] {
        let root = ReferenceFixtures.packageRoot
        var files: [URL] = []
        for dir in ["", "docs", "Sources"] {
            let base = dir.isEmpty ? root : root.appendingPathComponent(dir)
            guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { continue }
            for case let url as URL in e where url.pathExtension == "md" || url.pathExtension == "swift" {
                if dir.isEmpty, url.deletingLastPathComponent().path != root.path { continue }
                files.append(url)
            }
        }
        var out: [String] = []
        for f in files.sorted(by: { $0.path < $1.path }) {
            let text = try String(contentsOf: f, encoding: .utf8)
            var chunk = ""
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                chunk += line + "\n"
                if chunk.utf8.count > 2048 { out.append(chunk); chunk = "" }
            }
            if !chunk.isEmpty { out.append(chunk) }
        }
        return out
    }

    private func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
