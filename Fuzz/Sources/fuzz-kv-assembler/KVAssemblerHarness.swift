import FuzzSupport
import Wire

/// The decode side's KV assembler fed an arbitrary sequence of chunks and done messages: each
/// chunk's fields are read from the input, most often right (so the stream gets deep), sometimes
/// wrong in one field. The destination is a paged [layers][tokens, rowWidth] buffer that hands out
/// at most one page per call, as the paged cache does; the assembler must only ask for rows that
/// exist, write exactly the rows of accepted chunks, and refuse everything else with WireError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKVAssembler(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = ByteCursor(UnsafeRawBufferPointer(start: data, count: size))
    let shape = input.byte()
    let expectation = KVExpectation(requestId: "req", modelFingerprint: "fp", dtype: shape & 1 == 0 ? .f32 : .bf16,
                                    pageSize: UInt32(shape >> 1 & 3) + 1, rowWidth: Int(shape >> 3 & 3) + 1,
                                    layers: Int(shape >> 5 & 3) + 1, tokens: Int(input.byte() % 9))
    let rowsPerLayer = expectation.tokens * expectation.rowWidth
    let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, expectation.layers * rowsPerLayer))
    defer { storage.deallocate() }
    let pageSize = Int(expectation.pageSize)
    let assembler = KVAssembler(expecting: expectation) { layer, tokenStart, maxTokens in
        precondition(layer >= 0 && layer < expectation.layers && tokenStart >= 0 && maxTokens >= 1
                     && tokenStart + maxTokens <= expectation.tokens, "assembler asked for rows outside the request")
        let rows = min(maxTokens, pageSize - tokenStart % pageSize)
        let start = layer * rowsPerLayer + tokenStart * expectation.rowWidth
        return UnsafeMutableBufferPointer(rebasing: storage[start..<start + rows * expectation.rowWidth])
    }

    var operations = 0
    while !input.isAtEnd && operations < 64 {
        operations += 1
        let flags = input.byte()
        if flags & 3 == 3 {
            let done = PrefillDone(firstToken: 0, firstTokenLogprob: 0,
                                   totalPayloadBytes: flags & 4 == 0 ? assembler.payloadBytesReceived : UInt64(input.uint16()),
                                   tokens: UInt32(flags & 8 == 0 ? expectation.tokens : Int(input.byte())),
                                   layers: UInt32(flags & 16 == 0 ? expectation.layers : Int(input.byte())),
                                   prefillSeconds: 0, pcpRanks: 1,
                                   chunks: flags & 32 == 0 ? assembler.chunksReceived : UInt32(input.byte()))
            try? assembler.finish(done)
            continue
        }
        var header = KVChunkHeader(requestId: flags & 64 == 0 ? "req" : "other", modelFingerprint: "fp",
                                   layer: UInt32(input.byte() % 5), tokenStart: UInt32(input.byte() % 10),
                                   tokenCount: UInt32(input.byte() % 10), rowWidth: UInt32(expectation.rowWidth),
                                   dtype: expectation.dtype, pageSize: expectation.pageSize,
                                   chunkIndex: flags & 4 == 0 ? assembler.chunksReceived : UInt32(input.byte()), checksum: 0)
        if flags & 8 != 0 { header.dtype = WireDType(rawValue: Int32(input.byte() % 3))! }
        var payloadBytes = header.expectedPayloadBytes
        if flags & 16 != 0 { payloadBytes = input.byte() == 0 ? 0 : input.uint16() % 512 }
        var payload = [UInt8](input.take(payloadBytes))
        payload += [UInt8](repeating: 0x3F, count: payloadBytes - payload.count)
        payload.withUnsafeBytes { bytes in
            header.checksum = XXH3.hash64(bytes) ^ (flags & 32 == 0 ? 0 : 1)
            let view = KVChunkView(header: header, payload: segments(of: bytes, seed: flags))
            let before = assembler.chunksReceived
            do {
                try assembler.accept(view)
            } catch is WireError {
                precondition(assembler.chunksReceived == before, "a refused chunk advanced the stream")
                return
            } catch {
                preconditionFailure("KVAssembler threw a non-WireError: \(error)")
            }
            // Accepted: the f32 rows now hold exactly the payload (bf16 is widened, checked by WireTests).
            if header.dtype == .f32 {
                let start = Int(header.layer) * rowsPerLayer + Int(header.tokenStart) * expectation.rowWidth
                let written = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[start * 4..<start * 4 + bytes.count])
                precondition(written.elementsEqual(bytes), "accepted rows differ from the payload")
            }
        }
    }
    return 0
}
