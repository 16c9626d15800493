// Load-time check of filter and test names, with jinja2's rule: a name jinja2 does not know fails at load
// time, except inside an `if` statement or an inline `x if c else y` (a "soft" frame in jinja2's compiler),
// where it fails only if reached (TemplateRuntimeError). A jinja2 built-in this engine lacks always fails
// at load time, naming it.

enum NameCheck {
    static func statements(_ body: [Statement], soft: Bool) throws {
        for s in body { try statement(s, soft: soft) }
    }

    private static func statement(_ s: Statement, soft: Bool) throws {
        switch s {
        case .text, .breakLoop, .continueLoop: break
        case .output(let e), .set(_, let e), .setAttribute(_, _, let e): try expression(e, soft: soft)
        case .ifChain(let branches, let otherwise):
            for (test, body) in branches {
                try expression(test, soft: true)
                try statements(body, soft: true)
            }
            try statements(otherwise, soft: true)
        case .forLoop(let loop):
            // The iterable belongs to the enclosing frame; the body is a new (inner, not soft) frame.
            try expression(loop.iterable, soft: soft)
            if let c = loop.condition { try expression(c, soft: false) }
            try statements(loop.body, soft: false)
            try statements(loop.otherwise, soft: false)
        case .setBlock(_, let body, let filters), .filterBlock(let filters, let body):
            for (name, args, line) in filters {
                try filter(name, line: line, soft: false)
                try arguments(args, soft: false)
            }
            try statements(body, soft: false)
        case .macro(let m):
            for (_, d) in m.parameters { if let d { try expression(d, soft: false) } }
            try statements(m.body, soft: false)
        case .callBlock(let call, _, let body):
            try expression(call, soft: soft)
            try statements(body, soft: false)
        case .generation(let body):
            try statements(body, soft: false)
        }
    }

    private static func filter(_ name: String, line: Int, soft: Bool) throws {
        if Filters.notImplemented.contains(name) {
            throw ChatTemplateError.syntax("unsupported filter '\(name)'", line: line)
        }
        if !Filters.names.contains(name) && !soft {
            throw ChatTemplateError.syntax("No filter named '\(name)'.", line: line)
        }
    }

    private static func test(_ name: String, line: Int, soft: Bool) throws {
        if Tests.notImplemented.contains(name) {
            throw ChatTemplateError.syntax("unsupported test '\(name)'", line: line)
        }
        if !Tests.names.contains(name) && !soft {
            throw ChatTemplateError.syntax("No test named '\(name)'.", line: line)
        }
    }

    private static func arguments(_ a: Arguments, soft: Bool) throws {
        for e in a.positional { try expression(e, soft: soft) }
        for (_, e) in a.keyword { try expression(e, soft: soft) }
    }

    private static func expression(_ e: Expr, soft: Bool) throws {
        switch e.kind {
        case .literal, .name: break
        case .list(let items), .tuple(let items): for i in items { try expression(i, soft: soft) }
        case .dict(let pairs):
            for (k, v) in pairs { try expression(k, soft: soft); try expression(v, soft: soft) }
        case .attribute(let b, _), .not(let b), .negate(let b), .plus(let b): try expression(b, soft: soft)
        case .item(let b, let k): try expression(b, soft: soft); try expression(k, soft: soft)
        case .slice(let b, let start, let stop, let step):
            for x in [b, start, stop, step] { if let x { try expression(x, soft: soft) } }
        case .call(let f, let args): try expression(f, soft: soft); try arguments(args, soft: soft)
        case .filter(let b, let name, let args):
            try filter(name, line: e.line, soft: soft)
            try expression(b, soft: soft)
            try arguments(args, soft: soft)
        case .test(let b, let name, let args):
            try test(name, line: e.line, soft: soft)
            try expression(b, soft: soft)
            try arguments(args, soft: soft)
        case .binary(_, let l, let r), .and(let l, let r), .or(let l, let r):
            try expression(l, soft: soft); try expression(r, soft: soft)
        case .compare(let first, let rest):
            try expression(first, soft: soft)
            for (_, r) in rest { try expression(r, soft: soft) }
        case .conditional(let test, let then, let otherwise):
            try expression(test, soft: true)
            try expression(then, soft: true)
            if let otherwise { try expression(otherwise, soft: true) }
        }
    }
}
