import Foundation

// Executes statements: output, if, for (with jinja2's `loop` object), set, macros and call blocks.

final class Renderer {
    /// The date `strftime_now` formats (transformers uses `datetime.now()`; tests inject a fixed one).
    let now: Date

    /// Scopes a macro was defined in: the macro's closure holds its scope and the scope holds the
    /// macro, a cycle ARC never frees (found by scripts/fuzz). `releaseCycles` breaks them.
    private var macroScopes: [Scope] = []
    /// Namespaces made in this render: the one mutable object, so it can hold itself (`set ns.x = ns`).
    private var namespaces: [Namespace] = []
    /// Macro calls in progress, one inside another (`RenderLimits.maxMacroDepth`).
    private var macroDepth = 0
    /// Loop iterations so far (`RenderLimits.maxLoopIterations`).
    private var loopIterations = 0

    init(now: Date) { self.now = now }

    /// Called once the render is over (no macro can run any more): empties every scope that holds a
    /// macro and every namespace, so the scopes, macros, namespaces and the context they reach are freed.
    func releaseCycles() {
        for scope in macroScopes { scope.removeAll() }
        for namespace in namespaces { namespace.attributes = OrderedDictionary() }
        macroScopes = []
        namespaces = []
    }

    /// A namespace made by `namespace()` during this render, emptied by `releaseCycles`.
    func adopt(_ namespace: Namespace) { namespaces.append(namespace) }

    /// `out += text`, within `RenderLimits.maxStringBytes`.
    private func append(_ text: String, to out: inout String) throws {
        try RenderLimits.checkString(bytes: out.utf8.count + text.utf8.count)
        out += text
    }

    enum Flow { case normal, breakLoop, continueLoop }

    func render(_ statements: [Statement], scope: Scope) throws -> String {
        var out = ""
        _ = try execute(statements, scope: scope, into: &out)
        return out
    }

    func execute(_ statements: [Statement], scope: Scope, into out: inout String) throws -> Flow {
        for statement in statements {
            let flow = try execute(statement, scope: scope, into: &out)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ statement: Statement, scope: Scope, into out: inout String) throws -> Flow {
        switch statement {
        case .text(let t):
            try append(t, to: &out)
        case .output(let e):
            try append(try evaluate(e, scope).pythonStr, to: &out)
        case .ifChain(let branches, let otherwise):
            for (test, body) in branches where try evaluate(test, scope).truthy {
                return try execute(body, scope: scope, into: &out)
            }
            return try execute(otherwise, scope: scope, into: &out)
        case .forLoop(let loop):
            try executeFor(loop, scope: scope, into: &out)
        case .set(let targets, let e):
            try assign(targets, try evaluate(e, scope), scope: scope, line: e.line)
        case .setAttribute(let object, let attribute, let e):
            guard case .namespace(let ns)? = scope.lookup(object) else {
                throw ChatTemplateError.runtime("cannot assign attribute on non-namespace object")
            }
            ns.attributes[attribute] = try evaluate(e, scope)
        case .setBlock(let name, let body, let filters):
            var value = Value.string(try render(body, scope: scope))
            for (filter, args, _) in filters {
                value = try Filters.apply(filter, to: value, args, scope: scope, renderer: self)
            }
            scope.set(name, value)
        case .macro(let m):
            scope.set(m.name, .callable(makeMacro(m, definitionScope: scope)))
            macroScopes.append(scope)
        case .callBlock(let call, let callerParameters, let body):
            let caller = makeMacro(Macro(name: "caller", parameters: callerParameters, body: body, line: call.line),
                                   definitionScope: scope)
            guard case .call(let callee, let args) = call.kind else { return .normal }
            let function = try evaluate(callee, scope)
            var (positional, keyword) = try evaluateArguments(args, scope)
            keyword.append(("caller", .callable(caller)))
            try append(try invoke(function, positional, keyword, line: call.line).pythonStr, to: &out)
        case .filterBlock(let filters, let body):
            var value = Value.string(try render(body, scope: scope))
            for (filter, args, _) in filters {
                value = try Filters.apply(filter, to: value, args, scope: scope, renderer: self)
            }
            try append(value.pythonStr, to: &out)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        case .generation(let body):
            // transformers implements the tag as a call block: the body renders like a macro, in its own scope.
            try append(try render(body, scope: scope.child()), to: &out)
        }
        return .normal
    }

    private func assign(_ targets: [String], _ value: Value, scope: Scope, line: Int) throws {
        if targets.count == 1 { scope.set(targets[0], value); return }
        let items = try iterate(value, line: line)
        guard items.count == targets.count else {
            throw ChatTemplateError.value(items.count > targets.count
                ? "too many values to unpack (expected \(targets.count))"
                : "not enough values to unpack (expected \(targets.count), got \(items.count))")
        }
        for (name, item) in zip(targets, items) { scope.set(name, item) }
    }

    private func executeFor(_ loop: ForLoop, scope: Scope, into out: inout String) throws {
        var items = try iterate(try evaluate(loop.iterable, scope), line: loop.line)
        if let condition = loop.condition {
            items = try items.filter { item in
                let s = scope.child()
                try assign(loop.targets, item, scope: s, line: loop.line)
                return try evaluate(condition, s).truthy
            }
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, scope: scope, into: &out)
            return
        }
        for (i, item) in items.enumerated() {
            loopIterations += 1
            guard loopIterations <= RenderLimits.maxLoopIterations else {
                throw ChatTemplateError.runtime("more than \(RenderLimits.maxLoopIterations) loop iterations in one render (line \(loop.line))")
            }
            let iteration = scope.child()
            try assign(loop.targets, item, scope: iteration, line: loop.line)
            iteration.set("loop", loopObject(index: i, items: items))
            if try execute(loop.body, scope: iteration, into: &out) == .breakLoop { break }
        }
    }

    /// jinja2's `loop`: index, index0, revindex, revindex0, first, last, length, previtem, nextitem, cycle.
    private func loopObject(index i: Int, items: [Value]) -> Value {
        let n = items.count
        var o = OrderedDictionary()
        o["index"] = .int(i + 1)
        o["index0"] = .int(i)
        o["revindex"] = .int(n - i)
        o["revindex0"] = .int(n - i - 1)
        o["first"] = .bool(i == 0)
        o["last"] = .bool(i == n - 1)
        o["length"] = .int(n)
        o["depth"] = .int(1)
        o["depth0"] = .int(0)
        o["previtem"] = i > 0 ? items[i - 1] : .undefined("there is no previous item")
        o["nextitem"] = i < n - 1 ? items[i + 1] : .undefined("there is no next item")
        o["cycle"] = .callable(Callable(name: "cycle") { args, _, _ in
            guard !args.isEmpty else { throw ChatTemplateError.type("no items for cycling given") }
            return args[i % args.count]
        })
        return .object(o)
    }

    /// Python iteration: list items, dict keys, string characters; Undefined iterates as empty.
    func iterate(_ value: Value, line: Int) throws -> [Value] {
        switch value {
        case .array(let a), .tuple(let a), .iterator(_, let a): return a
        case .object(let o): return o.keyValues
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default:
            throw ChatTemplateError.type("'\(value.pythonTypeName)' object is not iterable (line \(line))")
        }
    }

    // MARK: - Macros

    private func makeMacro(_ m: Macro, definitionScope: Scope) -> Callable {
        Callable(name: m.name) { [unowned self] args, kwargs, _ in
            self.macroDepth += 1
            defer { self.macroDepth -= 1 }
            guard self.macroDepth <= RenderLimits.maxMacroDepth else {
                throw ChatTemplateError.python("RecursionError", "maximum recursion depth exceeded (more than \(RenderLimits.maxMacroDepth) macro calls inside one another, in '\(m.name)')")
            }
            let s = definitionScope.child()
            guard args.count <= m.parameters.count else {
                throw ChatTemplateError.type("macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)")
            }
            var bound = Set<String>()
            for (i, arg) in args.enumerated() { s.set(m.parameters[i].0, arg); bound.insert(m.parameters[i].0) }
            for (name, value) in kwargs {
                if name == "caller" { s.set("caller", value); continue }
                guard m.parameters.contains(where: { $0.0 == name }) else {
                    throw ChatTemplateError.type("macro '\(m.name)' takes no keyword argument '\(name)'")
                }
                s.set(name, value)
                bound.insert(name)
            }
            for (name, defaultValue) in m.parameters where !bound.contains(name) {
                if let d = defaultValue {
                    s.set(name, try self.evaluate(d, s))
                } else {
                    s.set(name, .undefined("parameter '\(name)' was not provided"))
                }
            }
            return .string(try self.render(m.body, scope: s))
        }
    }

    func invoke(_ function: Value, _ args: [Value], _ kwargs: [(String, Value)], line: Int) throws -> Value {
        switch function {
        case .callable(let c): return try c.call(args, kwargs, self)
        case .undefined(let message): throw Renderer.undefinedError(message)
        default: throw ChatTemplateError.type("'\(function.pythonTypeName)' object is not callable (line \(line))")
        }
    }

    /// Using an Undefined raises; the sandbox's "unsafe attribute" undefineds raise SecurityError instead.
    static func undefinedError(_ message: String) -> ChatTemplateError {
        message.hasPrefix("access to attribute") ? .security(message) : .undefined(message)
    }
}
