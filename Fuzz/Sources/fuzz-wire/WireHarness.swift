import FuzzSupport
import Wire

/// Every protobuf-c message decoder and the zero-copy PrefillResponse view on the same bytes:
/// each must either decode or throw WireError, never crash, read out of bounds or leak.
/// The first byte cuts the view's input into segments (as gRPC byte buffers arrive).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let cutSeed = input.first else { return 0 }
    let message = UnsafeRawBufferPointer(rebasing: input[1...])
    _ = try? GenerateRequest(decoding: message)
    _ = try? GenerateResponse(decoding: message)
    _ = try? StatsRequest(decoding: message)
    _ = try? StatsResponse(decoding: message)
    _ = try? PrefillRequest(decoding: message)
    _ = try? PrefillResponse(decoding: message)
    _ = try? InfoRequest(decoding: message)
    _ = try? InfoResponse(decoding: message)
    _ = try? HealthCheckRequest(decoding: message)
    _ = try? HealthCheckResponse(decoding: message)
    if case let .chunk(view)? = try? PrefillResponseView.parse(segments: segments(of: message, seed: cutSeed)) {
        _ = XXH3.hash64(segments: view.payload)   // touches every payload byte the view hands out
    }
    return 0
}
