import Foundation

/// One tensor of a safetensors header; offsets are relative to the data section.
struct HeaderEntry {
    let name: String
    let dtypeName: String
    let dtype: DType?        // nil: a dtype we cannot load (I8, F8_E4M3, ...)
    let shape: [Int]
    let begin: Int
    let end: Int
}

/// The parsed, validated header of one safetensors file: 8-byte little-endian length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {String: String}}`, data.
struct SafetensorsHeader {
    let entries: [HeaderEntry]
    let metadata: [String: String]
    let dataStart: Int       // 8 + N: file offset of the data section

    /// Validates everything a load relies on: JSON shape, dtype sizes against shapes, ranges inside the
    /// file and pairwise disjoint. `path` only names the file in errors.
    static func parse(file: UnsafeRawBufferPointer, path: String) throws -> SafetensorsHeader {
        guard file.count >= 8 else { throw TensorError.fileTooSmall(file: path, size: file.count) }
        let headerLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(file.count - 8) else {
            throw TensorError.headerPastEOF(file: path, headerLength: headerLength, fileSize: file.count)
        }
        let dataStart = 8 + Int(headerLength)
        let json = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: file.baseAddress! + 8),
                        count: Int(headerLength), deallocator: .none)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: json) } catch {
            throw TensorError.malformedHeader(file: path, reason: "header is not valid JSON (\(headerLength) bytes starting \(preview(json)))")
        }
        guard let table = object as? [String: Any] else {
            throw TensorError.malformedHeader(file: path, reason: "expected a JSON object at the top, found \(type(of: object))")
        }
        var metadata: [String: String] = [:]
        var entries: [HeaderEntry] = []
        entries.reserveCapacity(table.count)
        let dataBytes = file.count - dataStart
        for (name, value) in table {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else {
                    throw TensorError.malformedHeader(file: path, reason: "__metadata__ must map strings to strings")
                }
                metadata = m
                continue
            }
            let entry = try parseEntry(name: name, value: value, path: path)
            guard entry.end <= dataBytes else {
                throw TensorError.dataPastEOF(tensor: name, file: path, rangeEnd: entry.end, dataBytes: dataBytes)
            }
            entries.append(entry)
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }   // file order, deterministic
        try checkDisjoint(entries, path: path)
        return SafetensorsHeader(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    private static func parseEntry(name: String, value: Any, path: String) throws -> HeaderEntry {
        func malformed(_ why: String) -> TensorError { .malformedHeader(file: path, reason: "tensor '\(name)': \(why)") }
        guard let fields = value as? [String: Any] else { throw malformed("expected {\"dtype\", \"shape\", \"data_offsets\"}") }
        guard let dtypeName = fields["dtype"] as? String else { throw malformed("missing string \"dtype\"") }
        guard let shapeValues = fields["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
            throw malformed("\"shape\" must be a list of non-negative integers, found \(fields["shape"].map { "\($0)" } ?? "nothing")")
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2,
              offsets[0] >= 0, offsets[1] >= offsets[0] else {
            throw malformed("\"data_offsets\" must be [begin, end] with 0 <= begin <= end, found \(fields["data_offsets"].map { "\($0)" } ?? "nothing")")
        }
        let dtype = DType(rawValue: dtypeName)
        if let elementBytes = dtype?.byteSize ?? DType.elementBytes(ofUnsupported: dtypeName) {
            var expected = elementBytes
            for dim in shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw malformed("shape \(shape) overflows") }
                expected = product
            }
            guard expected == offsets[1] - offsets[0] else {
                throw TensorError.rangeSizeMismatch(tensor: name, file: path, shape: shape, dtype: dtypeName,
                                                    expectedBytes: expected, foundBytes: offsets[1] - offsets[0])
            }
        }
        return HeaderEntry(name: name, dtypeName: dtypeName, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// Non-empty ranges (sorted by start) must not share a byte (HF's writer packs them back to back).
    private static func checkDisjoint(_ entries: [HeaderEntry], path: String) throws {
        let byStart = entries.filter { $0.end > $0.begin }   // already in file order
        for (previous, next) in zip(byStart, byStart.dropFirst()) where next.begin < previous.end {
            throw TensorError.overlappingRanges(file: path, first: previous.name, second: next.name)
        }
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        out.reserveCapacity(values.count)
        for v in values {
            guard let n = v as? Int else { return nil }
            out.append(n)
        }
        return out
    }

    private static func preview(_ data: Data) -> String {
        let head = String(decoding: data.prefix(24), as: UTF8.self)
        return "\"" + head.replacingOccurrences(of: "\n", with: "\\n") + (data.count > 24 ? "…\"" : "\"")
    }
}
