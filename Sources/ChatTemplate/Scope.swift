// Variable scopes with jinja2's rules: a for-loop iteration and a macro call each get a fresh child scope
// (so `{% set %}` inside them is not seen outside; `namespace()` is the way out), `if` does not.

final class Scope {
    private var variables: [String: Value]
    private let parent: Scope?

    init(parent: Scope?, variables: [String: Value] = [:]) {
        self.parent = parent
        self.variables = variables
    }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let s = scope {
            if let v = s.variables[name] { return v }
            scope = s.parent
        }
        return nil
    }

    func set(_ name: String, _ value: Value) { variables[name] = value }

    func child() -> Scope { Scope(parent: self) }

    func removeAll() { variables = [:] }
}
