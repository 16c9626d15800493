import Foundation
import XCTest
@testable import ChatTemplate

/// The reference renderings of `scripts/chat-template-fixtures.py` (Python jinja2, set up as transformers
/// does), produced on demand: the script is run every time and regenerates the file only when it, jinja2 or
/// the llama.cpp template files changed. Failing to produce them is an error, never a skip.
enum ReferenceFixtures {
    static let jinja2Requirement = "jinja2==3.1.6"

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var fixtureFile: URL {
        let cache = ProcessInfo.processInfo.environment["LATENTSERVE_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/latentserve").path
        return URL(fileURLWithPath: cache).appendingPathComponent("template-fixtures/cases.json")
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a command from the repository root and returns its stdout (trimmed); throws on a non-zero exit.
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                + String(decoding: err, as: UTF8.self))
        }
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes sure the fixture file is current, then parses it (key order kept).
    static func load() throws -> Value {
        let python = try run(["bash", "scripts/python-env", "venv", jinja2Requirement])
        let llamaCpp = try run(["bash", "scripts/python-env", "llama-cpp-src"])
        _ = try run([python, "scripts/chat-template-fixtures.py", "--templates", llamaCpp + "/models/templates",
                     "--out", fixtureFile.path])
        let text = try String(contentsOf: fixtureFile, encoding: .utf8)
        return try Value(json: text)
    }
}

extension Value {
    /// Test helpers for walking parsed JSON.
    subscript(key: String) -> Value {
        if case .object(let o) = self, let v = o[key] { return v }
        return .none
    }
    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    var arrayValue: [Value]? { if case .array(let a) = self { return a } else { return nil } }
    var objectValue: OrderedDictionary? { if case .object(let o) = self { return o } else { return nil } }
}
