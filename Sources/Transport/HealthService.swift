import Wire

extension TransportServer {
    /// Serves grpc.health.v1.Health/Check (grpc_health_probe, grpcurl): SERVING for "" and for
    /// each name in `services`, NOT_FOUND for any other name.
    public func registerHealthService(services: [String]) {
        let known = Set(services + [""])
        registerUnary(MethodPath.healthCheck) { _, bytes in
            let request = try HealthCheckRequest(decoding: bytes)
            guard known.contains(request.service) else {
                throw TransportError.status(.notFound, "unknown service \"\(request.service)\"")
            }
            return HealthCheckResponse(status: .serving).encoded()
        }
    }
}

extension TransportChannel {
    /// grpc.health.v1.Health/Check of `service` ("" = the whole server).
    public func checkHealth(service: String = "", deadline: Deadline = .after(seconds: 5)) throws
        -> HealthCheckResponse.ServingStatus {
        try unary(method: MethodPath.healthCheck, request: HealthCheckRequest(service: service),
                  response: HealthCheckResponse.self, deadline: deadline).status
    }
}
