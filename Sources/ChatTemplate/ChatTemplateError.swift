// Every failure, one line each. The cases mirror the Python exception jinja2 raises for the same template
// and input, so tests can compare the kind (and for `raise_exception`, the exact message).
public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
    /// Load time: the template does not parse, or uses a construct this engine does not implement.
    case syntax(String, line: Int)
    /// The template called `raise_exception(message)` (jinja2 `TemplateError`).
    case raised(String)
    /// An undefined value was used in a way that needs a value (jinja2 `UndefinedError`).
    case undefined(String)
    /// An operation got a value of the wrong type (Python `TypeError`).
    case type(String)
    /// An operation the immutable sandbox forbids, e.g. `list.append` (jinja2 `SecurityError`).
    case security(String)
    /// jinja2 `TemplateRuntimeError`: a filter or test jinja2 does not know, reached at run time (jinja2 only
    /// rejects those at load time outside `if`), or `set x.attr` on something that is not a namespace.
    case runtime(String)
    /// Another Python exception, by class name (ZeroDivisionError, AttributeError, FilterArgumentError, ...).
    case python(String, String)
    /// A value of the right type but unusable, e.g. `int('x')`, an index out of range (Python `ValueError`, `IndexError`).
    case value(String)

    public var description: String {
        switch self {
        case .syntax(let m, let line): return "chat template line \(line): \(m)"
        case .raised(let m): return "chat template raised: \(m)"
        case .undefined(let m): return "chat template: undefined value: \(m)"
        case .type(let m): return "chat template: type error: \(m)"
        case .security(let m): return "chat template: forbidden in the sandbox: \(m)"
        case .value(let m): return "chat template: \(m)"
        case .runtime(let m): return "chat template: \(m)"
        case .python(let type, let m): return "chat template: \(type): \(m)"
        }
    }

    /// The name of the Python exception class jinja2 raises in the same situation.
    public var pythonExceptionName: String {
        switch self {
        case .syntax: return "TemplateSyntaxError"
        case .raised: return "TemplateError"
        case .undefined: return "UndefinedError"
        case .type: return "TypeError"
        case .security: return "SecurityError"
        case .value: return "ValueError"
        case .runtime: return "TemplateRuntimeError"
        case .python(let type, _): return type
        }
    }
}
