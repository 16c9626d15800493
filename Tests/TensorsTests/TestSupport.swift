import Foundation
import XCTest
@testable import Tensors

/// A fresh folder under the system temp dir, removed by `remove()` (call it in a defer or tearDown).
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/tensors-tests-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TensorError.writeFailed(file: "mkdtemp", reason: "failed") }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A safetensors file from a literal JSON header (padded by the caller as the test wants) and data.
func safetensorsBytes(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { out.append(contentsOf: $0) }
    return out + json + data
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Little-endian bytes of f32 values.
func f32Bytes(_ values: [Float]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }

/// Little-endian bytes of 16-bit patterns.
func u16Bytes(_ values: [UInt16]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }

/// Runs `body`, expecting it to throw exactly `expected`; returns the description for further checks.
@discardableResult
func assertThrows<T>(_ expected: TensorError, file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> T) -> String {
    do {
        _ = try body()
        XCTFail("expected \(expected), nothing thrown", file: file, line: line)
        return ""
    } catch let error as TensorError {
        XCTAssertEqual(error, expected, file: file, line: line)
        return error.description
    } catch {
        XCTFail("expected TensorError, got \(error)", file: file, line: line)
        return ""
    }
}
