import CGRPC
import CMPI
import COneDNN
import COpenBLAS
import CProtobufC
import CXXHash
import XCTest

/// One call into each system library, so a broken link or header shows at once.
final class LinkTests: XCTestCase {
    func testOpenBLASMultiplies() {
        let a: [Float] = [1, 2, 3, 4]  // [2, 2]
        let b: [Float] = [5, 6, 7, 8]  // [2, 2]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
    }

    func testOneDNNMultiplies() {
        let a: [Float] = [1, 2, 3, 4]  // [2, 2]
        let b: [Float] = [5, 6, 7, 8]  // [2, 2]
        var c = [Float](repeating: 0, count: 4)
        XCTAssertEqual(dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2), dnnl_success)
        XCTAssertEqual(c, [19, 22, 43, 50])
    }

    func testMPIReportsVersion() {
        var major: Int32 = 0
        var minor: Int32 = 0
        XCTAssertEqual(MPI_Get_version(&major, &minor), cmpi_success())
        XCTAssertGreaterThanOrEqual(major, 3)
    }

    func testGRPCReportsVersion() {
        let version = String(cString: grpc_version_string())
        XCTAssertFalse(version.isEmpty)
    }

    func testProtobufCReportsVersion() {
        XCTAssertGreaterThanOrEqual(protobuf_c_version_number(), 1_000_000)
    }

    func testXXHashIsStable() {
        let bytes: [UInt8] = Array("latentserve".utf8)
        let one = cxxhash_xxh3_64(bytes, bytes.count, 0)
        let two = cxxhash_xxh3_64(bytes, bytes.count, 0)
        XCTAssertEqual(one, two)
        XCTAssertNotEqual(one, cxxhash_xxh3_64(bytes, bytes.count, 1))
    }
}
