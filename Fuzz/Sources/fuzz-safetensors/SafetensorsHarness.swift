import FuzzSupport
@testable import Tensors

/// The safetensors header parser on whole files: either a header every load can trust (each tensor's
/// byte range inside the data section, as long as its dtype and shape say) or TensorError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file = UnsafeRawBufferPointer(start: data, count: size)
    do {
        let header = try SafetensorsHeader.parse(file: file, path: "fuzz.safetensors")
        for entry in header.entries {
            precondition(entry.begin >= 0 && entry.begin <= entry.end && header.dataStart + entry.end <= size,
                         "\(entry.name): range \(entry.begin)..<\(entry.end) outside the file")
            if let dtype = entry.dtype {
                precondition(entry.shape.reduce(1, *) * dtype.byteSize == entry.end - entry.begin,
                             "\(entry.name): shape \(entry.shape) does not match its byte range")
            }
        }
    } catch is TensorError {
    } catch {
        preconditionFailure("SafetensorsHeader threw a non-TensorError: \(error)")
    }
    return 0
}
