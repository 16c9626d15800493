import Foundation

/// A checkpoint's Jinja `chat_template`, parsed once and rendered the way transformers'
/// `apply_chat_template` renders it with jinja2 (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
/// loop controls, `tojson` with ensure_ascii=False, `raise_exception`, `strftime_now`).
public struct ChatTemplate: @unchecked Sendable {
    private let body: [Statement]

    /// Parses the template; an unsupported construct or a syntax error throws `.syntax` with its line.
    public init(source: String) throws {
        body = try Parser.parse(source)
    }

    /// Renders a conversation. The context is what transformers passes: `messages`, `tools` (None when
    /// absent), `documents` (None), `add_generation_prompt`, the special tokens, and every extra kwarg
    /// (e.g. `thinking`, `enable_thinking`). `now` is the date `strftime_now` formats.
    public func render(messages: [Value], addGenerationPrompt: Bool, tools: [Value]? = nil,
                       bosToken: String = "", eosToken: String = "", extra: [String: Value] = [:],
                       now: Date = Date()) throws -> String {
        var context: [String: Value] = [
            "messages": .array(messages),
            "tools": tools.map { .array($0) } ?? .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (k, v) in extra { context[k] = v }
        return try render(context: context, now: now)
    }

    /// Renders with exactly the given top-level variables.
    public func render(context: [String: Value], now: Date = Date()) throws -> String {
        let renderer = Renderer(now: now)
        defer { renderer.releaseCycles() }
        let globals = Scope(parent: nil, variables: Globals.all(now: now))
        return try renderer.render(body, scope: Scope(parent: globals, variables: context))
    }
}
