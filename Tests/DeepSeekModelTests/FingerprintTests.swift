import DeepSeekModel
import Foundation
import Tensors
import TinyModelSupport
import XCTest

/// The fingerprint covers weight contents (two checkpoints of one config differing in one value
/// differ), is stable, and its per-file digest cache is used and invalidated.
final class FingerprintTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "fingerprint-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: scratch) }

    /// A copy of the tiny checkpoint (no digest cache) at scratch/name.
    func copyOfTiny(_ name: String) throws -> String {
        let folder = (scratch as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: (TinyModel.directory as NSString).appendingPathComponent(file),
                                             toPath: (folder as NSString).appendingPathComponent(file))
        }
        return folder
    }

    func fingerprint(_ folder: String) throws -> String {
        try ModelFingerprint.compute(config: try DeepSeekConfig.load(directory: folder), store: try SafetensorsStore(directory: folder))
    }

    /// Overwrites the first f32 of `tensor` in folder/model.safetensors with `value`, in place.
    func setFirstValue(of tensor: String, to value: Float, in folder: String) throws {
        let offset = try SafetensorsStore(directory: folder).info(tensor)!.byteOffset
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("model.safetensors")))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) })
    }

    func firstValue(of tensor: String, in folder: String) throws -> Float {
        let store = try SafetensorsStore(directory: folder)
        return withExtendedLifetime(store) { store.rawBytes(tensor)!.loadUnaligned(as: Float.self) }
    }

    func testOneDifferingWeightChangesTheFingerprint() throws {
        let a = try copyOfTiny("a"), b = try copyOfTiny("b")
        XCTAssertEqual(try fingerprint(a), try fingerprint(b), "the same weights in another folder")
        let tensor = "model.layers.1.mlp.experts.3.down_proj.weight"
        let original = try firstValue(of: tensor, in: b)
        try setFirstValue(of: tensor, to: original.nextUp, in: b)              // one ulp of one value
        XCTAssertEqual(try firstValue(of: tensor, in: b), original.nextUp)
        XCTAssertNotEqual(try fingerprint(a), try fingerprint(b))
        XCTAssertEqual(try fingerprint(b), try fingerprint(b), "stable across loads")
        // The architecture-only part is equal: without weights both give the same fingerprint.
        let config = try DeepSeekConfig.load(directory: a)
        XCTAssertEqual(try ModelFingerprint.compute(config: config, store: nil), try ModelFingerprint.compute(config: config, store: nil))
    }

    /// A model loaded into huge-page copies digests the bytes the checkpoint holds: a fresh copy
    /// of tiny (no digest cache; its f32 q_a ‖ kv_a and gate ‖ up parts are fused and dropped at
    /// load) fingerprints as the mapped original does, and computes the same logits.
    func testHugePageResidencyFingerprintsAndComputesAsTheMapping() throws {
        let copy = try copyOfTiny("huge")
        let huge = try DeepSeekTransformer(directory: copy, residency: .hugePages)
        let mapped = try DeepSeekTransformer(directory: TinyModel.directory, residency: .mmap)
        XCTAssertEqual(huge.weights.residency, .hugePages)
        XCTAssertEqual(huge.fingerprint, mapped.fingerprint)
        let prompt: [Int32] = [3, 17, 42, 7, 99, 5]
        XCTAssertEqual(try huge.referencePrefill([prompt]).logits[0], try mapped.referencePrefill([prompt]).logits[0])
    }

    func testDigestCacheIsUsedAndInvalidatedWhenTheFileChanges() throws {
        let folder = try copyOfTiny("cached")
        let cacheFile = (folder as NSString).appendingPathComponent(WeightDigests.cacheFileName)
        let fallback = (scratch as NSString).appendingPathComponent("fallback")
        func digests() throws -> WeightDigests.Result {
            WeightDigests.compute(try SafetensorsStore(directory: folder), fallbackDirectory: fallback)
        }
        let first = try digests()
        XCTAssertEqual(first.hashedFiles, ["model.safetensors"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: cacheFile), "cache written beside the model")
        XCTAssertEqual(first.digests.count, try SafetensorsStore(directory: folder).tensorNames.count)
        XCTAssertEqual(Set(first.digests.values).count, first.digests.count, "random tensors: distinct digests")

        let second = try digests()
        XCTAssertEqual(second.hashedFiles, [], "second load reads the cache")
        XCTAssertEqual(second.digests, first.digests)

        let tensor = "model.norm.weight"
        try setFirstValue(of: tensor, to: 1234.5, in: folder)                  // same size, new mtime
        let third = try digests()
        XCTAssertEqual(third.hashedFiles, ["model.safetensors"], "a changed file is hashed again")
        XCTAssertNotEqual(third.digests[tensor], first.digests[tensor])
        XCTAssertEqual(third.digests.filter { $0.key != tensor }, first.digests.filter { $0.key != tensor })
        XCTAssertEqual(try digests().hashedFiles, [])
    }

    /// A folder the process cannot write to caches under the fallback directory instead.
    func testUnwritableFolderCachesInTheFallbackDirectory() throws {
        let folder = try copyOfTiny("readonly")
        let fallback = (scratch as NSString).appendingPathComponent("fallback")
        // Root ignores directory permissions; a cache path that is a directory cannot be replaced
        // by rename(2) either way, which is what an unwritable folder amounts to here.
        try FileManager.default.createDirectory(atPath: (folder as NSString).appendingPathComponent(WeightDigests.cacheFileName + "/x"),
                                                withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder) }
        let first = WeightDigests.compute(try SafetensorsStore(directory: folder), fallbackDirectory: fallback)
        XCTAssertEqual(first.hashedFiles, ["model.safetensors"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: fallback).filter { $0.hasSuffix(".json") }.count, 1)
        let second = WeightDigests.compute(try SafetensorsStore(directory: folder), fallbackDirectory: fallback)
        XCTAssertEqual(second.hashedFiles, [])
        XCTAssertEqual(second.digests, first.digests)
    }

    /// Converting at load changes the fingerprint exactly when it changes the values: bf16 held
    /// as f32 computes the same model, f32 rounded to bf16 another one.
    func testRoundingToBF16AtLoadIsPartOfTheFingerprint() throws {
        let tiny = TinyModel.directory, bf16 = GoldenTests.goldenRoot + "/v3_bf16_hub"
        let plain = try DeepSeekTransformer(directory: tiny).fingerprint
        XCTAssertEqual(try DeepSeekTransformer(directory: tiny, weightsDType: .f32).fingerprint, plain)
        XCTAssertNotEqual(try DeepSeekTransformer(directory: tiny, weightsDType: .bf16).fingerprint, plain)
        let stored = try DeepSeekTransformer(directory: bf16).fingerprint
        XCTAssertEqual(try DeepSeekTransformer(directory: bf16, weightsDType: .f32).fingerprint, stored)
        XCTAssertEqual(try DeepSeekTransformer(directory: bf16, weightsDType: .bf16).fingerprint, stored)
    }
}
