import Foundation
import TestSupport
import XCTest
@testable import ChatTemplate

/// The reference renderings of `scripts/chat-template-fixtures.py` (Python jinja2, set up as transformers
/// does), produced on demand: the script is run every time and regenerates the file only when it, jinja2 or
/// the llama.cpp template files changed. Failing to produce them is an error, never a skip.
enum ReferenceFixtures {
    static let jinja2Requirement = "jinja2==3.1.6"

    static var fixtureFile: URL {
        FixtureCommand.cacheDirectory.appendingPathComponent("template-fixtures/cases.json")
    }

    static func run(_ arguments: [String]) throws -> String { try FixtureCommand.run(arguments) }

    /// Makes sure the fixture file is current, then parses it (key order kept).
    static func load() throws -> Value {
        let python = try run(["bash", "scripts/python-env", "venv", jinja2Requirement])
        let llamaCpp = try run(["bash", "scripts/python-env", "llama-cpp-src"])
        _ = try run([python, "scripts/chat-template-fixtures.py", "--templates", llamaCpp + "/models/templates",
                     "--out", fixtureFile.path])
        let text = try String(contentsOf: fixtureFile, encoding: .utf8)
        return try Value(json: text)
    }

    /// transformers' own continue_final_message renderings of the same templates (the script's
    /// --continue-final-message mode, in a venv of its own so its dependencies move no other test's).
    static let transformersRequirement = "transformers==5.25.0"

    static func loadContinueFinalMessage() throws -> Value {
        let python = try run(["env", "PYTHON_ENV=transformers", "bash", "scripts/python-env", "venv", transformersRequirement,
                              jinja2Requirement])
        let llamaCpp = try run(["bash", "scripts/python-env", "llama-cpp-src"])
        let file = FixtureCommand.cacheDirectory.appendingPathComponent("template-fixtures/continue-final-message.json")
        _ = try run([python, "scripts/chat-template-fixtures.py", "--templates", llamaCpp + "/models/templates",
                     "--out", file.path, "--continue-final-message"])
        return try Value(json: try String(contentsOf: file, encoding: .utf8))
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
