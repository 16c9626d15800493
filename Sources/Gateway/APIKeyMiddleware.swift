import Hummingbird
import Transport

/// `--api-key-file`: every route but /health, /metrics and /version (open, as vLLM leaves them
/// with --api-key: probes and scrapers) needs `Authorization: Bearer <key>`, else 401 with an
/// OpenAI error object and `WWW-Authenticate: Bearer`; the request is not read further.
struct APIKeyMiddleware<Context: Hummingbird.RequestContext>: RouterMiddleware {
    let key: AuthToken
    static var openPaths: Set<String> { ["/health", "/metrics", "/version"] }

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        let message: String
        switch key.check(authorization: request.headers[.authorization]) {
        case .accepted: return try await next(request, context)
        case .missing: message = "missing API key: send the header 'Authorization: Bearer <key>'"
        case .wrong: message = "incorrect API key provided"
        }
        var response = HTTP.error(APIError(status: 401, message: message, type: "invalid_request_error", param: nil))
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }
}
