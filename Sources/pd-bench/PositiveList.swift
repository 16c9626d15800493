import ArgumentParser
import Basics

/// A non-empty comma-separated list of positive integers (`--tokens 512,1024`, `--batch 1,4,8`).
func positiveList(_ text: String, option: String) throws -> [Int] {
    let values: [Int]
    do {
        values = try CommaList.integers(text, option: option, atLeast: 1, expected: "a positive integer")
    } catch let error as CommaListError {
        throw ValidationError(error.description)
    }
    guard !values.isEmpty else { throw ValidationError("\(option) expects a comma-separated list of positive integers, found '\(text)'") }
    return values
}
