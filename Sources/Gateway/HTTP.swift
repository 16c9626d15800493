import ChatTemplate
import Hummingbird
import NIOCore

/// Response helpers: JSON bodies, OpenAI errors (with Retry-After), SSE events.
enum HTTP {
    static func json(_ value: Value, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.compactJSON)))
    }

    static func error(_ error: APIError) -> Response {
        var response = json(error.body, status: HTTPResponse.Status(code: error.status))
        if let seconds = error.retryAfter { response.headers[.retryAfter] = String(seconds) }
        return response
    }

    /// One server-sent event: `data: <json>\n\n`.
    static func sse(_ value: Value) -> ByteBuffer { ByteBuffer(string: "data: \(value.compactJSON)\n\n") }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
