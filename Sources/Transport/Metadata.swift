import CGRPC

/// Call metadata (HTTP/2 headers): lowercase ASCII keys, text values; a key may repeat.
public struct Metadata: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    /// The first value of `key`.
    public subscript(key: String) -> String? { entries.first { $0.key == key }?.value }

    public mutating func append(_ key: String, _ value: String) { entries.append(Entry(key: key, value: value)) }

    init(_ array: grpc_metadata_array) {
        var result: [Entry] = []
        for i in 0..<array.count {
            let m = array.metadata[i]
            result.append(Entry(key: Slices.string(m.key), value: Slices.string(m.value)))
        }
        entries = result
    }
}

/// Metadata as a C array for one batch; the slices are released by `release()` once the batch completed.
final class OutgoingMetadata {
    let pointer: UnsafeMutablePointer<grpc_metadata>?
    let count: Int

    init(_ metadata: Metadata) {
        count = metadata.entries.count
        guard count > 0 else {
            pointer = nil
            return
        }
        let array = UnsafeMutablePointer<grpc_metadata>.allocate(capacity: count)
        for (i, entry) in metadata.entries.enumerated() {
            var m = grpc_metadata()
            m.key = Slices.from(entry.key)
            m.value = Slices.from(entry.value)
            array[i] = m
        }
        pointer = array
    }

    deinit {
        guard let pointer else { return }
        for i in 0..<count {
            grpc_slice_unref(pointer[i].key)
            grpc_slice_unref(pointer[i].value)
        }
        pointer.deallocate()
    }
}
