import CProtobufC

/// grpc.health.v1.HealthCheckRequest: the service name to check ("" = the whole server).
public struct HealthCheckRequest: Equatable, Sendable, WireMessage {
    public var service: String

    public init(service: String = "") { self.service = service }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("HealthCheckRequest", bytes, unpack: grpc__health__v1__health_check_request__unpack,
                                 free: grpc__health__v1__health_check_request__free_unpacked) { c in
            HealthCheckRequest(service: try checkedString(c.service, message: "HealthCheckRequest", field: "service"))
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        let arena = CArena()
        var c = Grpc__Health__V1__HealthCheckRequest()
        grpc__health__v1__health_check_request__init(&c)
        c.service = arena.string(service)
        return try withExtendedLifetime(arena) { try withEncoderFor(&c, body) }
    }
}

/// grpc.health.v1.HealthCheckResponse.
public struct HealthCheckResponse: Equatable, Sendable, WireMessage {
    public enum ServingStatus: Int32, Sendable {
        case unknown = 0, serving = 1, notServing = 2, serviceUnknown = 3
    }

    public var status: ServingStatus

    public init(status: ServingStatus) { self.status = status }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self = try unpackMessage("HealthCheckResponse", bytes, unpack: grpc__health__v1__health_check_response__unpack,
                                 free: grpc__health__v1__health_check_response__free_unpacked) { c in
            let raw = Int32(bitPattern: UInt32(truncatingIfNeeded: c.status.rawValue))
            guard let status = ServingStatus(rawValue: raw) else {
                throw WireError.invalidField(message: "HealthCheckResponse", field: "status", expected: "0...3",
                                             found: "\(raw)")
            }
            return HealthCheckResponse(status: status)
        }
    }

    public func withEncoder<R>(_ body: (MessageEncoder) throws -> R) rethrows -> R {
        var c = Grpc__Health__V1__HealthCheckResponse()
        grpc__health__v1__health_check_response__init(&c)
        c.status = Grpc__Health__V1__HealthCheckResponse__ServingStatus(rawValue: numericCast(status.rawValue))
        return try withEncoderFor(&c, body)
    }
}
