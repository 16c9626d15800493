import CProtobufC

/// Element type of KV payload bytes on the wire (raw little-endian).
public enum WireDType: Int32, Sendable, CustomStringConvertible {
    case unspecified = 0
    case f32 = 1
    case bf16 = 2

    /// Bytes per element on the wire (0 for `.unspecified`).
    public var byteWidth: Int {
        switch self {
        case .unspecified: return 0
        case .f32: return 4
        case .bf16: return 2
        }
    }

    public var description: String {
        switch self {
        case .unspecified: return "unspecified"
        case .f32: return "f32"
        case .bf16: return "bf16"
        }
    }

    /// What a KV payload may be, in the words every dtype error uses.
    public static let accepted = "1 (f32) or 2 (bf16)"

    init(wire raw: Latentserve__V1__WireDType, message: String) throws {
        guard let value = WireDType(rawValue: Int32(bitPattern: UInt32(truncatingIfNeeded: raw.rawValue))) else {
            throw WireError.invalidField(message: message, field: "dtype", expected: WireDType.accepted,
                                         found: "\(raw.rawValue)")
        }
        self = value
    }

    var wire: Latentserve__V1__WireDType {
        Latentserve__V1__WireDType(rawValue: numericCast(rawValue))
    }
}

/// Why a generation ended (set on the last GenerateResponse only). As OpenAI / vLLM, `stop` covers the
/// model's EOS and the request's stop token ids (the message's `stopTokenId` tells which).
public enum FinishReason: Int32, Sendable, CustomStringConvertible {
    case unspecified = 0
    case stop = 1
    case length = 2
    case cancelled = 3
    case error = 4
    // 5 was `eos`, now `stop` without a stop token id.
    case deadline = 6

    public var description: String {
        switch self {
        case .unspecified: return "unspecified"
        case .stop: return "stop"
        case .length: return "length"
        case .cancelled: return "cancelled"
        case .error: return "error"
        case .deadline: return "deadline"
        }
    }

    init(wire raw: Latentserve__V1__FinishReason, message: String) throws {
        guard let value = FinishReason(rawValue: Int32(bitPattern: UInt32(truncatingIfNeeded: raw.rawValue))) else {
            throw WireError.invalidField(message: message, field: "finish_reason", expected: "0...4 or 6",
                                         found: "\(raw.rawValue)")
        }
        self = value
    }

    var wire: Latentserve__V1__FinishReason {
        Latentserve__V1__FinishReason(rawValue: numericCast(rawValue))
    }
}

extension FinishReason {
    /// The stop token id of a message's `stop` oneof, checked against its finish reason: only `stop`
    /// names one (none: the model's EOS).
    static func stopTokenID(set: Bool, value: UInt32, finish: FinishReason, message: String) throws -> UInt32? {
        guard set else { return nil }
        guard finish == .stop else {
            throw WireError.invalidField(message: message, field: "stop_token_id", expected: "only with finish_reason STOP",
                                         found: "\(value) with \(finish)")
        }
        return value
    }
}
