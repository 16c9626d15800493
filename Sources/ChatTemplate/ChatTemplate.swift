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
    /// `continueFinalMessage`: transformers' `continue_final_message` — the text ends inside the last
    /// message, right after its content, so the model continues that message (an assistant reply's start).
    public func render(messages: [Value], addGenerationPrompt: Bool, continueFinalMessage: Bool = false, tools: [Value]? = nil,
                       bosToken: String = "", eosToken: String = "", extra: [String: Value] = [:],
                       now: Date = Date()) throws -> String {
        var messages = messages
        var finalContent = ""
        if continueFinalMessage {
            // As transformers (5.x): the content gets a tag, the rendering is cut where the tag landed.
            guard !addGenerationPrompt else {
                throw ChatTemplateError.value("continue_final_message and add_generation_prompt are not compatible")
            }
            guard case var .object(last)? = messages.last else {
                throw ChatTemplateError.value("continue_final_message is set but the conversation is empty")
            }
            switch last["content"] {
            case let .string(content)?:
                finalContent = content
                last["content"] = .string(content + Self.continueTag)
            case var .array(parts)?:   // content parts: the last one with a "text" is continued
                guard let i = parts.lastIndex(where: { if case let .object(p) = $0 { return p["text"] != nil } else { return false } }),
                      case var .object(part) = parts[i], case let .string(text)? = part["text"] else {
                    throw ChatTemplateError.value("continue_final_message is set but we could not find any text to continue in the final message")
                }
                finalContent = text
                part["text"] = .string(text + Self.continueTag)
                parts[i] = .object(part)
                last["content"] = .array(parts)
            default:
                throw ChatTemplateError.value("continue_final_message is set but the final message has no \"content\" to continue")
            }
            messages[messages.count - 1] = .object(last)
        }
        var context: [String: Value] = [
            "messages": .array(messages),
            "tools": tools.map { .array($0) } ?? .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (k, v) in extra { context[k] = v }
        let rendered = try render(context: context, now: now)
        return continueFinalMessage ? try Self.cutAtContinueTag(rendered, finalContent: finalContent) : rendered
    }

    /// transformers' `continue_final_message_tag`, appended to the content to be continued.
    static let continueTag = "CONTINUE_FINAL_MESSAGE_TAG "

    /// `rendered` up to the tag's last occurrence — with the whitespace before it when the template kept
    /// the tag's own trailing space, else right-stripped (a template that strips contents stripped the
    /// tag's space and would have stripped the content's); throws when the template dropped the content
    /// or the tag (transformers' ValueError).
    static func cutAtContinueTag(_ rendered: String, finalContent: String) throws -> String {
        let text = PyStr.scalars(rendered), tag = PyStr.scalars(continueTag), strippedTag = PyStr.scalars(PyStr.strip(continueTag, nil))
        guard PyStr.find(text, PyStr.scalars(PyStr.strip(finalContent, nil))) != nil, let at = PyStr.rfind(text, strippedTag) else {
            throw ChatTemplateError.value("continue_final_message is set but the final message does not appear in the chat after applying the chat template")
        }
        if text[at..<min(text.count, at + tag.count)].elementsEqual(tag) { return PyStr.string(text[..<at]) }
        return PyStr.strip(PyStr.string(text[..<at]), nil, leading: false)
    }

    /// Renders with exactly the given top-level variables.
    public func render(context: [String: Value], now: Date = Date()) throws -> String {
        let renderer = Renderer(now: now)
        defer { renderer.releaseCycles() }
        let globals = Scope(parent: nil, variables: Globals.all(now: now))
        return try renderer.render(body, scope: Scope(parent: globals, variables: context))
    }
}
