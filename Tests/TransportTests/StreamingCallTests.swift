import Foundation
import Transport
import Basics
import Wire
import XCTest
import TestSupport

/// Server-streaming KV transfer: byte-exact 64 MiB, corruption, fingerprint checks, cancels from
/// both sides, deadlines, graceful drain, many streams at once.
final class StreamingCallTests: TransportTestCase {
    static let fingerprint = "fp:test-model"
    static let rowWidth = 576

    /// A Prefill handler streaming `layers` layers of [tokens, rowWidth] f32 rows; row values are a
    /// function of (layer, token, column). `corruptChunk` flips a payload byte after checksumming.
    func registerPrefill(_ server: TransportServer, layers: Int, corruptChunk: UInt32? = nil) {
        server.registerServerStreaming(MethodPath.prefill) { context, bytes, writer in
            let request = try PrefillRequest(decoding: bytes)
            guard request.modelFingerprint == Self.fingerprint else {
                throw TransportError.status(.failedPrecondition, "model fingerprint mismatch: expected \(Self.fingerprint), "
                                            + "found \(request.modelFingerprint)")
            }
            let tokens = request.promptTokenIds.count
            let chunker = try KVChunker(requestId: request.requestId, modelFingerprint: Self.fingerprint,
                                        rowWidth: Self.rowWidth, dtype: request.dtype,
                                        maxChunkBytes: Int(request.maxChunkBytes), pageSize: Int(request.pageSize))
            var rows = [Float](repeating: 0, count: tokens * Self.rowWidth)
            for layer in 0..<layers {
                Self.fill(&rows, layer: layer)
                try rows.withUnsafeBufferPointer { source in
                    try chunker.forEachChunk(layer: layer, rows: source) { header, payload in
                        guard header.chunkIndex == corruptChunk else {
                            return try PrefillResponse.withChunkEncoder(header: header, payload: payload) {
                                try writer.send($0)
                            }
                        }
                        var damaged = [UInt8](payload)
                        damaged[damaged.count / 2] ^= 0x01
                        try writer.send(PrefillResponse.chunk(KVChunk(header: header, payload: damaged)))
                    }
                }
            }
            try writer.send(PrefillResponse.done(PrefillDone(firstToken: 1, firstTokenLogprob: -0.5,
                                                             totalPayloadBytes: chunker.payloadBytesProduced,
                                                             tokens: UInt32(tokens), layers: UInt32(layers),
                                                             prefillSeconds: 0, pcpRanks: 1,
                                                             chunks: chunker.nextChunkIndex)))
            _ = context
        }
    }

    static func fill(_ rows: inout [Float], layer: Int) {
        for i in 0..<rows.count { rows[i] = Float(layer * 1_000_003 + i) * 0.25 }
    }

    /// Receives a whole Prefill stream into a [layers, tokens, rowWidth] cache.
    func receive(_ request: PrefillRequest, layers: Int, on channel: TransportChannel) throws -> [Float] {
        let tokens = request.promptTokenIds.count
        var cache = [Float](repeating: .nan, count: layers * tokens * Self.rowWidth)
        let stream = try channel.serverStreaming(method: MethodPath.prefill, request: request, deadline: .after(seconds: 60))
        try cache.withUnsafeMutableBufferPointer { inoutBuffer in
            let buffer = inoutBuffer
            let expectation = KVExpectation(requestId: request.requestId, modelFingerprint: request.modelFingerprint,
                                            dtype: request.dtype, pageSize: request.pageSize, rowWidth: Self.rowWidth,
                                            layers: layers, tokens: tokens)
            let assembler = KVAssembler(expecting: expectation) { layer, start, count in
                let offset = (layer * tokens + start) * Self.rowWidth
                return UnsafeMutableBufferPointer(rebasing: buffer[offset..<(offset + count * Self.rowWidth)])
            }
            while let message = try stream.nextMessage() {
                switch try PrefillResponseView.parse(segments: message.segments) {
                case let .chunk(view):
                    do {
                        try assembler.accept(view)
                    } catch {
                        stream.cancel()  // the decode side stops the transfer on a bad chunk
                        throw error
                    }
                case let .done(done): try assembler.finish(done)
                }
            }
            XCTAssertTrue(assembler.isComplete)
        }
        return cache
    }

    func testStreams64MiBByteExact() throws {
        try startServer { registerPrefill($0, layers: 4) }
        // 4 layers × 7282 tokens × 576 f32 = 64 MiB (less 2 KiB), 1 MiB chunks on 64-token pages.
        let tokens = (16 << 20) / (Self.rowWidth * 4)
        let request = PrefillRequest(requestId: "big", promptTokenIds: [UInt32](repeating: 1, count: tokens),
                                     modelFingerprint: Self.fingerprint, dtype: .f32, maxChunkBytes: 1 << 20, pageSize: 64)
        let cache = try receive(request, layers: 4, on: channel)
        var expected = [Float](repeating: 0, count: tokens * Self.rowWidth)
        for layer in 0..<4 {
            Self.fill(&expected, layer: layer)
            let got = cache[(layer * expected.count)..<((layer + 1) * expected.count)]
            assertBitIdentical(got, expected, "layer \(layer)")
        }
    }

    func testCorruptedChunkIsDetected() throws {
        try startServer { registerPrefill($0, layers: 2, corruptChunk: 3) }
        let request = PrefillRequest(requestId: "c", promptTokenIds: [UInt32](repeating: 1, count: 1000),
                                     modelFingerprint: Self.fingerprint, maxChunkBytes: 256 << 10)
        XCTAssertThrowsError(try receive(request, layers: 2, on: channel)) { error in
            guard case .checksumMismatch(chunkIndex: 3, _, _, _) = error as? WireError else {
                return XCTFail("expected checksum mismatch on chunk 3, got \(error)")
            }
        }
    }

    func testWrongFingerprintIsRejected() throws {
        try startServer { registerPrefill($0, layers: 1) }
        let request = PrefillRequest(requestId: "w", promptTokenIds: [1, 2, 3], modelFingerprint: "fp:another-model")
        XCTAssertThrowsError(try receive(request, layers: 1, on: channel)) { error in
            guard case let TransportError.status(code, message) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(code, .failedPrecondition)
            XCTAssertTrue(message.contains("fp:another-model"), message)
        }
    }

    /// An endless stream: the handler sends until `send` throws, then records that it saw the end.
    func registerEndless(_ server: TransportServer, stopped: AtomicFlag, cancelAfter: Int? = nil) {
        server.registerServerStreaming("/test.Stream/Endless") { context, _, writer in
            defer { stopped.set() }
            let message = [UInt8](repeating: 9, count: 64 << 10)
            for i in 0..<100_000 {  // bounded: ~6 GiB, far beyond any test's reads
                if i == cancelAfter { context.cancel(.aborted, "server gave up at message \(i)") }
                try writer.send(message)
            }
        }
    }

    func testClientCancelMidStream() throws {
        let stopped = AtomicFlag()
        try startServer { registerEndless($0, stopped: stopped) }
        let stream = try channel.serverStreaming(method: "/test.Stream/Endless", request: [])
        for _ in 0..<10 { XCTAssertNotNil(try stream.next()) }
        stream.cancel()
        assertStatus(.cancelled) { while try stream.next() != nil {} }
        XCTAssertTrue(waitUntil(seconds: 5) { stopped.isSet }, "server handler never saw the cancel")
    }

    /// The server is blocked in a zero-copy send (the client stopped reading, flow control is
    /// closed, gRPC holds slices over the handler's memory) when the client cancels: the send
    /// must fail and the handler return, not wait forever for the slices.
    func testClientCancelWhileZeroCopySendIsBlocked() throws {
        let stopped = AtomicFlag()
        try startServer { server in
            server.registerServerStreaming("/test.Stream/Borrowed") { _, _, writer in
                defer { stopped.set() }
                let rows = [Float](repeating: 1.5, count: 1 << 20)  // 4 MiB
                let header = KVChunkHeader(requestId: "b", modelFingerprint: "f", layer: 0, tokenStart: 0,
                                           tokenCount: 1, rowWidth: UInt32(rows.count), dtype: .f32, pageSize: 0,
                                           chunkIndex: 0, checksum: 0)
                try rows.withUnsafeBytes { payload in
                    for _ in 0..<1000 {  // bounded: 4 GiB, far more than flow control lets through unread
                        try PrefillResponse.withChunkEncoder(header: header, payload: payload) { try writer.send($0) }
                    }
                }
            }
        }
        let stream = try channel.serverStreaming(method: "/test.Stream/Borrowed", request: [])
        XCTAssertNotNil(try stream.nextMessage())
        // Timing: 0.3 s for the server to fill every buffer and block. Not a bound: were it still
        // filling, the cancel below must stop it just the same (waited for up to 10 s).
        usleep(300_000)
        XCTAssertFalse(stopped.isSet)
        stream.cancel()
        XCTAssertTrue(waitUntil(seconds: 10) { stopped.isSet }, "the blocked zero-copy send never returned")
    }

    func testServerCancelMidStream() throws {
        let stopped = AtomicFlag()
        try startServer { registerEndless($0, stopped: stopped, cancelAfter: 5) }
        let stream = try channel.serverStreaming(method: "/test.Stream/Endless", request: [])
        XCTAssertThrowsError(try { while try stream.next() != nil {} }()) { error in
            XCTAssertEqual(error as? TransportError, .status(.aborted, "server gave up at message 5"))
        }
        XCTAssertTrue(waitUntil(seconds: 5) { stopped.isSet })
    }

    func testDroppingAStreamCancelsIt() throws {
        let stopped = AtomicFlag()
        try startServer { registerEndless($0, stopped: stopped) }
        do {
            let stream = try channel.serverStreaming(method: "/test.Stream/Endless", request: [])
            _ = try stream.next()
        }
        XCTAssertTrue(waitUntil(seconds: 5) { stopped.isSet })
    }

    func testStreamDeadlineExceeded() throws {
        let stopped = AtomicFlag()
        try startServer { registerEndless($0, stopped: stopped) }
        let stream = try channel.serverStreaming(method: "/test.Stream/Endless", request: [], deadline: .after(seconds: 0.3))
        assertStatus(.deadlineExceeded) {
            while try stream.next() != nil { usleep(20_000) }  // a slow reader
        }
        XCTAssertTrue(waitUntil(seconds: 5) { stopped.isSet })
    }

    func testGracefulShutdownDrainsCallsInFlight() throws {
        try startServer { server in
            server.registerServerStreaming("/test.Stream/Slow") { _, _, writer in
                for i in 0..<20 {
                    usleep(25_000)
                    try writer.send([UInt8(i)])
                }
            }
        }
        let stream = try channel.serverStreaming(method: "/test.Stream/Slow", request: [])
        XCTAssertEqual(try stream.next(), [0])
        let shutdownDone = AtomicFlag()
        let server = self.server!
        Thread.detachNewThread {
            server.shutdown(gracePeriod: 10)
            shutdownDone.set()
        }
        var received: [UInt8] = [0]
        while let message = try stream.next() { received += message }
        XCTAssertEqual(received, (0..<20).map(UInt8.init))
        XCTAssertTrue(waitUntil(seconds: 10) { shutdownDone.isSet })
        // New calls after shutdown fail.
        assertStatus(.unavailable) { _ = try channel.unary(method: "/test.Stream/Slow", request: [], deadline: .after(seconds: 5)) }
    }

    func testShutdownCancelsCallsPastTheGracePeriod() throws {
        let stopped = AtomicFlag()
        try startServer { registerEndless($0, stopped: stopped) }
        let stream = try channel.serverStreaming(method: "/test.Stream/Endless", request: [])
        _ = try stream.next()
        server.shutdown(gracePeriod: 0.2)
        XCTAssertTrue(stopped.isSet)
        XCTAssertThrowsError(try { while try stream.next() != nil {} }())
    }

    func testManyConcurrentStreams() throws {
        try startServer { registerPrefill($0, layers: 2) }
        let streams = 16
        let failures = NSLock()
        var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: streams) { i in
            let tokens = 100 + i * 37
            let request = PrefillRequest(requestId: "s\(i)", promptTokenIds: [UInt32](repeating: 1, count: tokens),
                                         modelFingerprint: Self.fingerprint, dtype: i % 2 == 0 ? .f32 : .bf16,
                                         maxChunkBytes: 64 << 10, pageSize: 16)
            do {
                let cache = try receive(request, layers: 2, on: channel)
                var expected = [Float](repeating: 0, count: tokens * Self.rowWidth)
                Self.fill(&expected, layer: 1)
                let got = cache[expected.count...]
                let sent = request.dtype == .f32 ? expected : expected.map { BFloat16.float(from: BFloat16.bits(from: $0)) }
                if !Closeness(got, sent).within(absTol: 0, relTol: 0) { throw WireError.mismatch(field: "rows of stream \(i)", expected: "sent rows", found: "others") }
            } catch {
                failures.lock()
                errors.append("stream \(i): \(error)")
                failures.unlock()
            }
        }
        XCTAssertEqual(errors, [])
    }
}
