import Basics
import CKernels
@testable import Kernels
import Tensors
import XCTest

/// Decode attention's value side over f32 and bf16 cache rows (KVWeightedRows): every variant and
/// the scalar C definition against a plain Swift reference — one fused multiply-add per term in row
/// order — bit for bit, over ragged shapes (head groups of 6, column vectors of 16 / 64, row blocks
/// of 128), with strides, accumulation, and a sequence split into runs.
final class KVWeightedRowsTests: XCTestCase {
    /// Cache rows of one dtype: the f32 values and their stored bytes.
    struct Rows {
        let dtype: ck_weight_dtype
        let values: [Float]       // as the kernel reads them
        let bytes: [UInt8]

        init(dtype: ck_weight_dtype, count: Int, using g: inout SeededRandom) {
            self.dtype = dtype
            let drawn = (0..<count).map { _ in Float.random(in: -3...3, using: &g) }
            if dtype == CK_WEIGHT_BF16 {
                let bits = drawn.map { BFloat16.bits(from: $0) }
                values = bits.map { BFloat16.float(from: $0) }
                bytes = bits.withUnsafeBytes { Array($0) }
            } else {
                values = drawn
                bytes = drawn.withUnsafeBytes { Array($0) }
            }
        }

        var storage: WeightMatrix.Storage { dtype == CK_WEIGHT_BF16 ? .bf16 : .f32 }
        var elementBytes: Int { dtype == CK_WEIGHT_BF16 ? 2 : 4 }
    }

    /// o[h, c] = (accumulate ? o[h, c] : 0) then += p[h, j] · V[j, c] for j in order, fused.
    static func reference(p: [Float], heads: Int, ldp: Int, v: [Float], count: Int, ldv: Int, n: Int,
                          o: [Float], ldo: Int, accumulate: Bool) -> [Float] {
        var out = o
        for h in 0..<heads {
            for c in 0..<n {
                var acc: Float = accumulate ? o[h * ldo + c] : 0
                for j in 0..<count { acc = acc.addingProduct(p[h * ldp + j], v[j * ldv + c]) }
                out[h * ldo + c] = acc
            }
        }
        return out
    }

    typealias Variant = (name: String, run: ck_kv_weighted_rows_fn)

    static var variants: [Variant] {
        [("scalar", ck_kv_weighted_rows_scalar)] + KernelVariants.available.map { ("\($0.isa)", $0.kvWeightedRows) }
    }

    static let dtypes = [CK_WEIGHT_F32, CK_WEIGHT_BF16]

    func testEveryVariantEqualsTheFusedReferenceBitForBit() {
        var g = SeededRandom(seed: 41)
        var cases = 0
        for dtype in Self.dtypes {
            for heads in [1, 5, 6, 7, 13] {
                for n in [1, 8, 15, 16, 17, 33, 64, 65, 130] {
                    for count in [1, 3, 128, 129, 300] {
                        let ldp = count + 3, ldv = n + 11, ldo = n + 2
                        let p = (0..<heads * ldp).map { _ in Float.random(in: 0...1, using: &g) }
                        let v = Rows(dtype: dtype, count: count * ldv, using: &g)
                        let start = (0..<heads * ldo).map { _ in Float.random(in: -1...1, using: &g) }
                        for accumulate in [false, true] {
                            let want = Self.reference(p: p, heads: heads, ldp: ldp, v: v.values, count: count, ldv: ldv, n: n,
                                                      o: start, ldo: ldo, accumulate: accumulate)
                            for variant in Self.variants {
                                var out = start
                                variant.run(p, heads, ldp, v.bytes, Int32(dtype.rawValue), count, ldv, n, &out, ldo, accumulate ? 1 : 0)
                                XCTAssertEqual(out.map(\.bitPattern), want.map(\.bitPattern),
                                               "\(variant.name) dtype \(dtype.rawValue) heads \(heads) n \(n) count \(count) accumulate \(accumulate)")
                                cases += 1
                            }
                        }
                    }
                }
            }
        }
        // 2 dtypes × 450 shapes × (scalar + every variant this CPU runs: AVX2, and AVX-512 where present).
        XCTAssertGreaterThanOrEqual(Self.variants.count, 2)
        XCTAssertEqual(cases, 2 * 450 * Self.variants.count)
    }

    /// A sequence's page runs chained with `accumulate` give the bits of one pass (decode attention
    /// relies on it: results do not depend on how the allocator placed the pages).
    func testRunsChainedEqualOnePass() {
        var g = SeededRandom(seed: 7)
        let heads = 8, n = 512, count = 200, ldv = 576
        let p = (0..<heads * count).map { _ in Float.random(in: 0...1, using: &g) }
        for dtype in Self.dtypes {
            let v = Rows(dtype: dtype, count: count * ldv, using: &g)
            for table in KernelVariants.available {
                var whole = [Float](repeating: .nan, count: heads * n), pieces = whole
                v.bytes.withUnsafeBytes { bytes in
                    let all = WeightMatrix(storage: v.storage, base: bytes.baseAddress!, rows: count, cols: ldv)
                    KVWeightedRows.run(p, heads: heads, ldp: count, values: all, columns: n, into: &whole, ldo: n,
                                       accumulate: false, kernels: table)
                    var first = 0
                    for length in [16, 48, 1, 135] {
                        let run = WeightMatrix(storage: v.storage, base: bytes.baseAddress! + first * ldv * v.elementBytes,
                                               rows: length, cols: ldv)
                        p.withUnsafeBufferPointer { pp in
                            KVWeightedRows.run(pp.baseAddress! + first, heads: heads, ldp: count, values: run, columns: n,
                                               into: &pieces, ldo: n, accumulate: first > 0, kernels: table)
                        }
                        first += length
                    }
                    XCTAssertEqual(first, count)
                }
                XCTAssertEqual(pieces.map(\.bitPattern), whole.map(\.bitPattern), "\(table.isa) dtype \(dtype.rawValue)")
            }
        }
    }

    /// No rows: o is zeroed (or left as it is when accumulating), in every variant and dtype.
    func testEmptyRunZeroesOrKeeps() {
        for variant in Self.variants {
            for dtype in Self.dtypes {
                var out: [Float] = [1, 2, 3, 4, 5, 6]
                variant.run([], 2, 0, [], Int32(dtype.rawValue), 0, 3, 3, &out, 3, 1)
                XCTAssertEqual(out, [1, 2, 3, 4, 5, 6], variant.name)
                variant.run([], 2, 0, [], Int32(dtype.rawValue), 0, 3, 3, &out, 3, 0)
                XCTAssertEqual(out, [0, 0, 0, 0, 0, 0], variant.name)
            }
        }
    }
}
