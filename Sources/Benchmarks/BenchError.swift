/// Why a benchmark could not run or report.
public enum BenchError: Error, CustomStringConvertible {
    case badOption(String)
    case subprocessFailed(command: String, status: Int32, output: String)
    case unparsableOutput(String)

    public var description: String {
        switch self {
        case .badOption(let s): return s
        case let .subprocessFailed(command, status, output):
            return "subprocess '\(command)' exited with status \(status), expected 0; output: \(output.suffix(2000))"
        case .unparsableOutput(let s): return "could not parse worker output, expected one JSON line: \(s.suffix(500))"
        }
    }
}
