import Foundation

/// Errors of the benchmark's raw TCP yardstick.
enum TCPBenchError: Error, CustomStringConvertible {
    case system(call: String, errno: Int32)
    case shortTransfer(expected: Int, found: Int)
    case checksumMismatch(offset: Int)

    var description: String {
        switch self {
        case let .system(call, code): return "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .shortTransfer(expected, found): return "TCP stream ended early: expected \(expected) bytes, found \(found)"
        case let .checksumMismatch(offset): return "TCP piece at byte \(offset) does not match its XXH3-64"
        }
    }
}

/// Blocking POSIX TCP sockets on 127.0.0.1 for the raw baseline.
enum TCPSocket {
    static func check(_ result: Int32, _ call: String) throws -> Int32 {
        guard result >= 0 else { throw TCPBenchError.system(call: call, errno: errno) }
        return result
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A listening socket; returns (fd, bound port).
    static func listen(port: Int) throws -> (Int32, Int) {
        let fd = try check(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0), "socket")
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: port)
        _ = try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try check(bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)), "bind")
            }
        }
        _ = try check(Glibc.listen(fd, 16), "listen")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = try check(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0), "socket")
        var address = loopback(port: port)
        _ = try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try check(Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)), "connect")
            }
        }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TCPBenchError.system(call: "write", errno: errno) }
            offset += n
        }
    }

    /// Reads exactly `count` bytes into `buffer` (or throws at EOF).
    static func readExactly(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws {
        var offset = 0
        while offset < count {
            let n = Glibc.read(fd, buffer + offset, count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 { throw TCPBenchError.shortTransfer(expected: count, found: offset) }
                throw TCPBenchError.system(call: "read", errno: errno)
            }
            offset += n
        }
    }
}
