import Foundation

/// A shared secret callers present as `authorization: Bearer <token>` (gRPC metadata, or the HTTP
/// header of the same name). Read from a file: its text without leading/trailing whitespace,
/// visible ASCII only (an HTTP/2 header value), never logged.
public struct AuthToken: Sendable, CustomStringConvertible {
    private let secret: [UInt8]

    public init(_ text: String) throws {
        let trimmed = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard !trimmed.isEmpty else { throw SecurityOptionError.badToken("token", "", "is empty") }
        guard trimmed.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw SecurityOptionError.badToken("token", "", "holds characters other than visible ASCII (no spaces inside)")
        }
        secret = trimmed
    }

    public static func load(file: String, option: String) throws -> AuthToken {
        guard let data = FileManager.default.contents(atPath: file) else { throw SecurityOptionError.unreadable(option, file) }
        do { return try AuthToken(String(decoding: data, as: UTF8.self)) } catch let SecurityOptionError.badToken(_, _, why) {
            throw SecurityOptionError.badToken(option, file, why)
        }
    }

    /// Never the secret itself.
    public var description: String { "AuthToken(\(secret.count) bytes)" }

    /// The metadata / header key.
    public static let headerKey = "authorization"

    /// The header value a client sends.
    public var headerValue: String { "Bearer " + String(decoding: secret, as: UTF8.self) }

    public enum Verdict: Equatable, Sendable {
        case accepted
        /// No `authorization` value with the Bearer scheme.
        case missing
        /// A bearer token that is not this one.
        case wrong
    }

    /// Judges a presented `authorization` value. The comparison takes the same time wherever the
    /// first difference is (it reads every byte of the secret whatever was presented), so the
    /// answer's timing does not reveal the secret byte by byte.
    public func check(authorization: String?) -> Verdict {
        guard let authorization else { return .missing }
        let bytes = Array(authorization.utf8)
        let scheme = Array("bearer ".utf8)
        guard bytes.count >= scheme.count,
              zip(bytes.prefix(scheme.count), scheme).allSatisfy({ ($0 | 0x20) == $1 }) else { return .missing }
        let presented = bytes[scheme.count...].drop { $0 == 0x20 }
        return Self.constantTimeEquals(Array(presented), secret) ? .accepted : .wrong
    }

    /// Equal bytes, in time that depends on `secret`'s length only.
    static func constantTimeEquals(_ presented: [UInt8], _ secret: [UInt8]) -> Bool {
        var difference: UInt8 = presented.count == secret.count ? 0 : 1
        for i in 0..<secret.count {
            difference |= (i < presented.count ? presented[i] : 0) ^ secret[i]
        }
        return difference == 0
    }
}
