#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cache's storage: one anonymous mapping per layer, [pageCount, pageSize, rowWidth] elements.
///
/// Mapped once at start-up, page-aligned (so 64-byte aligned), consecutive page ids adjacent in
/// memory. Zero-filled lazily by the kernel (untouched pages cost no resident memory), or all at
/// once when `resident` (MAP_POPULATE): a daemon holds its whole cache from the start, as vLLM and
/// llama.cpp do, so its RSS does not step up when a long batch first touches more pages, and a
/// machine without the memory shows it at start rather than mid-request.
final class LatentPageStorage {
    let layers: Int
    let bytesPerLayer: Int
    /// [layers] base pointers, one per layer buffer.
    let layerBases: UnsafeMutablePointer<UnsafeMutableRawPointer>

    init(layers: Int, elementsPerLayer: Int, elementBytes: Int, resident: Bool) throws {
        let (bytes, overflow) = elementsPerLayer.multipliedReportingOverflow(by: elementBytes)
        guard !overflow else {
            throw KVCacheError.invalidConfiguration("a layer of \(elementsPerLayer) elements overflows the byte count")
        }
        var mapped: [UnsafeMutableRawPointer] = []
        for layer in 0..<layers {
            let region = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (resident ? MAP_POPULATE : 0), -1, 0)
            guard let region, region != MAP_FAILED else {
                let reason = String(cString: strerror(errno))
                for earlier in mapped { munmap(earlier, bytes) }
                throw KVCacheError.invalidConfiguration(
                    "could not map \(bytes) bytes for layer \(layer) of \(layers): \(reason)")
            }
            precondition(Int(bitPattern: region) % 64 == 0, "mmap returned a region that is not 64-byte aligned")
            mapped.append(region)
        }
        self.layers = layers
        self.bytesPerLayer = bytes
        self.layerBases = .allocate(capacity: layers)
        for (layer, region) in mapped.enumerated() {
            layerBases[layer] = region
        }
    }

    deinit {
        for layer in 0..<layers { munmap(layerBases[layer], bytesPerLayer) }
        layerBases.deallocate()
    }
}
