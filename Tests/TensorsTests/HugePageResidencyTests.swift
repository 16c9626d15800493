import Foundation
@testable import Tensors
import XCTest

/// `.hugePages` residency against `.mmap` on the same file: the same bytes wherever the model
/// reads them, copies that survive what the loader does to a converted tensor, a clear error
/// instead of a SIGBUS when the file shrank, and huge pages actually behind a large tensor.
final class HugePageResidencyTests: XCTestCase {
    var dir: TemporaryDirectory!
    /// A 5 MiB f32 tensor (spans two huge pages whatever its offset), odd-sized neighbours on both
    /// sides so page-sharing edges exist, bf16 and an unaligned tail.
    let big = (0..<(5 << 18)).map { Float($0 % 1009) - 504.5 }
    let small = (0..<777).map { Float($0) * 0.25 }

    override func setUpWithError() throws {
        dir = try TemporaryDirectory()
        var w = SafetensorsWriter()
        small.withUnsafeBufferPointer { w.add("a.small", shape: [777], values: $0, as: .f32) }
        big.withUnsafeBufferPointer { w.add("b.big", shape: [5 << 8, 1 << 10], values: $0, as: .f32) }
        small.withUnsafeBufferPointer { w.add("c.half", shape: [777], values: $0, as: .bf16) }
        big.withUnsafeBufferPointer { w.add("d.bigHalf", shape: [5 << 8, 1 << 10], values: $0, as: .bf16) }
        small.withUnsafeBufferPointer { w.add("e.tail", shape: [7, 111], values: $0, as: .f32) }
        try w.write(to: dir.file("model.safetensors"))
    }

    override func tearDown() { dir.remove() }

    private func storedBytes(_ store: SafetensorsStore, _ name: String) throws -> [UInt8] {
        let t = try store.stored(name, shape: store.info(name)!.shape)
        return Array(UnsafeRawBufferPointer(start: t.base, count: t.info.byteCount))
    }

    func testSameBytesAsTheMappingEverywhere() throws {
        let mapped = try SafetensorsStore(directory: dir.path, residency: .mmap)
        let copied = try SafetensorsStore(directory: dir.path, residency: .hugePages)
        for name in mapped.tensorNames {
            let shape = mapped.info(name)!.shape
            XCTAssertEqual(try storedBytes(copied, name), try storedBytes(mapped, name), name)
            XCTAssertEqual(try copied.load(name, shape: shape).toArray(), try mapped.load(name, shape: shape).toArray(), name)
            XCTAssertEqual(Array(copied.rawBytes(name)!), Array(mapped.rawBytes(name)!), name)
        }
        let view = try copied.load("b.big", shape: [5 << 8, 1 << 10])   // a view of the copy
        XCTAssertTrue(view.isView)
        copied.releaseMappedPages()                      // nothing the model reads lives in the mapping
        XCTAssertEqual(view.toArray(), big)
        XCTAssertEqual(try storedBytes(copied, "c.half"), try storedBytes(mapped, "c.half"))
    }

    /// A converted tensor's pages are freed; using it again reads it in again (an anonymous page
    /// freed comes back as zeros), and its neighbours keep their bytes.
    func testDroppedTensorReadsBackAndNeighboursSurvive() throws {
        let mapped = try SafetensorsStore(directory: dir.path, residency: .mmap)
        let copied = try SafetensorsStore(directory: dir.path, residency: .hugePages)
        let before = try copied.load("b.big", shape: [5 << 8, 1 << 10])
        for name in ["a.small", "c.half", "d.bigHalf", "e.tail"] { _ = try storedBytes(copied, name) }
        copied.dropResidentPages("d.bigHalf")
        XCTAssertEqual(before.toArray(), big)
        for name in mapped.tensorNames {
            XCTAssertEqual(try storedBytes(copied, name), try storedBytes(mapped, name), "\(name) after dropping d.bigHalf")
        }
    }

    /// A view dropped after its bytes were fused into another copy (concatRows): the store forgets
    /// its copy, so what reads it next (the weight digests) sees the file's bytes, not freed pages.
    func testDroppedViewIsForgotten() throws {
        let mapped = try SafetensorsStore(directory: dir.path, residency: .mmap)
        let copied = try SafetensorsStore(directory: dir.path, residency: .hugePages)
        let view = try copied.load("b.big", shape: [5 << 8, 1 << 10])
        view.dropMappedPages()
        XCTAssertEqual(Array(copied.rawBytes("b.big")!), Array(mapped.rawBytes("b.big")!))
        XCTAssertEqual(try copied.load("b.big", shape: [5 << 8, 1 << 10]).toArray(), big)
        XCTAssertEqual(try storedBytes(copied, "a.small"), try storedBytes(mapped, "a.small"))
    }

    /// The file shrank after the store opened it: the mapping would SIGBUS on the lost pages; the
    /// copy names the file and the short read.
    func testTruncatedFileIsAClearError() throws {
        let copied = try SafetensorsStore(directory: dir.path, residency: .hugePages)
        let info = copied.info("d.bigHalf")!
        XCTAssertEqual(truncate(dir.file("model.safetensors"), off_t(info.byteOffset + 100)), 0)
        XCTAssertThrowsError(try copied.stored("d.bigHalf", shape: info.shape)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("model.safetensors") && text.contains("file ended"), text)
        }
    }

    /// auto: a copy per process only for a process alone with its weights on the host, with room
    /// for them twice over, on a kernel with transparent huge pages.
    func testAutomaticChoice() throws {
        let bytes = try XCTUnwrap(FileSystem.size(of: dir.file("model.safetensors")))
        let huge: WeightResidency = WeightResidency.transparentHugePagesAvailable ? .hugePages : .mmap
        XCTAssertEqual(WeightResidency.automatic(ranksOnThisHost: 1, checkpoint: dir.path, availableBytes: 2 * bytes), huge)
        XCTAssertEqual(WeightResidency.automatic(ranksOnThisHost: 1, checkpoint: dir.path, availableBytes: 2 * bytes - 1), .mmap)
        XCTAssertEqual(WeightResidency.automatic(ranksOnThisHost: 2, checkpoint: dir.path, availableBytes: 1 << 40), .mmap)
        XCTAssertEqual(WeightResidency.automatic(ranksOnThisHost: 1, checkpoint: dir.file("absent"), availableBytes: 1 << 40), .mmap)
        XCTAssertEqual(WeightResidency.automatic(ranksOnThisHost: 1, checkpoint: dir.path, availableBytes: nil), .mmap)
        XCTAssertGreaterThan(try XCTUnwrap(WeightResidency.availableMemoryBytes), 0)
    }

    /// Where the kernel offers transparent huge pages, the copy of a 5 MiB tensor sits on them
    /// (/proc/self/smaps: AnonHugePages of the mapping that holds it).
    func testLargeTensorSitsOnHugePages() throws {
        guard WeightResidency.transparentHugePagesAvailable else { throw XCTSkip("transparent huge pages are off on this host") }
        let copied = try SafetensorsStore(directory: dir.path, residency: .hugePages)
        let t = try copied.stored("b.big", shape: [5 << 8, 1 << 10])
        let address = UInt(bitPattern: t.base)
        // (String(contentsOfFile:) stops at 4 KiB: procfs files report size 0)
        let smaps = String(decoding: try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/smaps")).readDataToEndOfFile(), as: UTF8.self)
        var inside = false, hugeKiB: Int?
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), fields.count >= 5, !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inside, fields.first == "AnonHugePages:", fields.count >= 2 {
                hugeKiB = Int(fields[1])
                break
            }
        }
        let kib = try XCTUnwrap(hugeKiB, "no mapping in /proc/self/smaps holds the copy at \(String(address, radix: 16))")
        XCTAssertGreaterThanOrEqual(kib, 2048, "the copy of a 5 MiB tensor holds \(kib) KiB of huge pages")
    }
}
