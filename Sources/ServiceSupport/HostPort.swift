/// "host:port" as daemons and clients take it.
public enum HostPort {
    public static func parse(_ text: String, option: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
              colon != text.startIndex else {
            throw HostPortError(option: option, value: text)
        }
        return (String(text[..<colon]), port)
    }
}

public struct HostPortError: Error, CustomStringConvertible {
    public let option: String, value: String
    public var description: String { "\(option): '\(value)' is not host:port (e.g. 127.0.0.1:50051)" }
}
