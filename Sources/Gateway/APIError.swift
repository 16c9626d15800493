import ChatTemplate

/// An error answered in OpenAI's shape:
/// `{"error": {"message", "type", "param", "code"}}` with an HTTP status.
public struct APIError: Error, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    /// Seconds a client should wait before retrying (429 / 503), sent as Retry-After.
    public var retryAfter: Int?

    public var description: String { "\(status) \(type): \(message)" }

    /// 400 naming the request field that is wrong.
    public static func invalid(_ param: String?, _ message: String) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    /// 400 for a parameter this server does not implement (never silently ignored).
    public static func unsupported(_ param: String, _ why: String = "") -> APIError {
        invalid(param, "\(param) is not supported by this server\(why.isEmpty ? "" : ": " + why)")
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(status: 404, message: message, type: "not_found_error", param: nil)
    }

    /// 429 / 503 with Retry-After.
    public static func overloaded(status: Int, _ message: String, retryAfter: Int = 1) -> APIError {
        APIError(status: status, message: message, type: status == 429 ? "rate_limit_error" : "service_unavailable",
                 param: nil, retryAfter: retryAfter)
    }

    public static func server(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error", param: nil)
    }

    public var body: Value {
        ["error": .object(OrderedDictionary([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map { .string($0) } ?? .none), ("code", .int(status)),
        ]))]
    }
}
