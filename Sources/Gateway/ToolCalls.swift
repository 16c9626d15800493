import ChatTemplate
import Foundation
import ModelText

/// A tool_choice that makes the whole reply tool calls, guided by JSON Schema (vLLM's way): a named
/// function (the reply is its arguments) or "required" (a JSON array of {"name", "parameters"}).
enum ForcedToolCalls: Equatable, Sendable {
    case named(String)
    case required

    /// The calls a finished "required" reply is; none when it is not whole JSON of the expected shape
    /// (cut by max_tokens or a stop string: the caller keeps it as text). Arguments as vLLM writes
    /// them: the parameters as Python's json.dumps. (A named function's reply is its call's arguments,
    /// streamed as they come.)
    static func requiredCalls(_ reply: String) -> [ToolCall] {
        guard case let .array(items)? = try? Value(json: reply) else { return [] }
        var calls: [ToolCall] = []
        for case let .object(call) in items {
            guard let name = call["name"]?.stringValue, let parameters = call["parameters"],
                  let arguments = try? parameters.jsonString() else { return [] }
            calls.append(ToolCall(id: ToolCallFormat.newID(), name: name, arguments: arguments))
        }
        return calls.count == items.count ? calls : []
    }
}

/// A function call the model wrote, as OpenAI's `tool_calls` carries it.
struct ToolCall: Equatable, Sendable {
    let id: String
    let name: String
    /// The arguments as the model wrote them (a JSON object's text, passed on as is, as vLLM does).
    var arguments: String
}

/// A piece of a choice's tool call as a stream sends it: the call's first piece has its id and name
/// (and maybe arguments), the later ones more of its arguments. A whole call is one piece.
struct ToolCallDelta: Equatable, Sendable {
    /// The call's index within the choice.
    let call: Int
    let id: String?
    let name: String?
    let arguments: String

    /// A call's first piece.
    static func start(_ call: ToolCall, index: Int) -> ToolCallDelta {
        ToolCallDelta(call: index, id: call.id, name: call.name, arguments: call.arguments)
    }

    /// Whole calls from their pieces, in order (a response that is not streamed).
    static func merge(_ deltas: [ToolCallDelta], into calls: inout [ToolCall]) {
        for d in deltas {
            if let id = d.id, let name = d.name {
                calls.append(ToolCall(id: id, name: name, arguments: d.arguments))
            } else if d.call < calls.count {
                calls[d.call].arguments += d.arguments
            }
        }
    }
}

/// vLLM's `--tool-call-parser` formats of the MLA models, read off the generated token ids: each
/// marker is one added token of the model's tokenizer, so a section is recognised by id, never by
/// text a model could also write as plain characters.
///   deepseek_v3:  <｜tool▁calls▁begin｜>(<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>)*<｜tool▁calls▁end｜>
///   deepseek_v31: <｜tool▁calls▁begin｜>(<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>)*<｜tool▁calls▁end｜>
///   kimi_k2:      <|tool_calls_section_begin|>(<|tool_call_begin|>functions.NAME:INDEX<|tool_call_argument_begin|>ARGS<|tool_call_end|>)*<|tool_calls_section_end|>
public struct ToolCallFormat: Sendable {
    public enum Name: String, CaseIterable, Sendable {
        case deepseekV3 = "deepseek_v3", deepseekV31 = "deepseek_v31", kimiK2 = "kimi_k2"
    }

    public let name: Name
    let sectionBegin: Int, sectionEnd: Int, callBegin: Int, callEnd: Int, separator: Int

    /// The marker ids in `text`'s tokenizer; throws naming the first marker it lacks.
    public init(_ name: Name, text: ModelText) throws {
        self.name = name
        let markers: [String]
        switch name {
        case .deepseekV3, .deepseekV31:
            markers = ["<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"]
        case .kimiK2:
            markers = ["<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>", "<|tool_call_end|>",
                       "<|tool_call_argument_begin|>"]
        }
        let ids = try Self.markerIDs(markers, in: text, flag: "--tool-call-parser \(name.rawValue)")
        (sectionBegin, sectionEnd, callBegin, callEnd, separator) = (ids[0], ids[1], ids[2], ids[3], ids[4])
    }

    /// A deepseek_v31 or kimi_k2 call from its head (the tokens between its begin marker and the
    /// separator), its arguments to come; nil when the head does not have the format's shape (the
    /// caller then keeps the call as text). deepseek_v3's name follows the separator (`ToolCallSplitter`).
    func startedCall(head tokens: [Int], text: ModelText) -> ToolCall? {
        let head = text.decode(tokens, skipSpecialTokens: false).trimmingCharacters(in: .whitespacesAndNewlines)
        switch name {
        case .deepseekV31:
            guard !head.isEmpty else { return nil }
            return ToolCall(id: Self.newID(), name: head, arguments: "")
        case .kimiK2:
            // functions.NAME:INDEX, which is also the call's id (vLLM's kimi_k2 parser).
            guard head.hasPrefix("functions."), let colon = head.lastIndex(of: ":") else { return nil }
            let function = String(head[head.index(head.startIndex, offsetBy: 10)..<colon])
            guard !function.isEmpty else { return nil }
            return ToolCall(id: head, name: function, arguments: "")
        case .deepseekV3:
            return nil
        }
    }

    /// The token id of each marker (an added token of the checkpoint's tokenizer); throws naming the
    /// flag and the first marker the tokenizer lacks. Tool-call and reasoning parsers alike.
    static func markerIDs(_ markers: [String], in text: ModelText, flag: String) throws -> [Int] {
        try markers.map { marker in
            guard let id = text.tokenizer.tokenID(for: marker) else {
                throw GatewayError.arguments("\(flag): the model's tokenizer has no \(marker) token")
            }
            return id
        }
    }

    static func newID() -> String { "chatcmpl-tool-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
}

/// One choice's generated tokens split into text and tool calls, token by token: outside a tool-call
/// section every token is text; inside it, a call starts once its name is read — at the separator
/// marker (deepseek_v31, kimi_k2), or at the ```json fence after it (deepseek_v3) — and its arguments
/// follow as they are generated (vLLM streams them so); deepseek_v3's closing fence is held back and
/// dropped. A call whose head is malformed is text again, markers included. Nothing is dropped: an
/// unfinished section is text at the end, but for a call already started, which ends with the
/// arguments it has.
struct ToolCallSplitter {
    enum Piece: Equatable {
        case text(Int)
        /// A call whose arguments follow in `arguments` pieces until the next call or the end.
        case started(ToolCall)
        case arguments(String)
    }

    static let openingFence = "\n```json\n", closingFence = "\n```"

    let format: ToolCallFormat
    let text: ModelText
    private var inSection = false
    private var held: [Int] = []      // the section's tokens since its begin marker (markers included)
    private var callStart: Int?       // index in `held` after the current call's begin marker
    private var head: TextStream?     // deepseek_v3: the text after the separator, until the opening fence
    private var headText = ""
    private var arguments: TextStream? // the started call's arguments, detokenized as they come
    private var heldBack = ""         // deepseek_v3: the arguments' last characters, maybe the closing fence
    private(set) var calls = 0

    init(format: ToolCallFormat, text: ModelText) {
        self.format = format
        self.text = text
    }

    mutating func feed(_ token: Int) -> [Piece] {
        guard inSection else {
            if token == format.sectionBegin {
                inSection = true
                held = [token]
                return []
            }
            return [.text(token)]
        }
        if arguments != nil && token != format.callEnd {
            return release(arguments!.append(token))
        }
        held.append(token)
        if head != nil && token != format.callEnd {
            headText += head!.append(token)
            guard let open = headText.range(of: Self.openingFence) else { return [] }
            let name = headText[..<open.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty else { return [] }   // malformed: text at the end marker
            let after = String(headText[open.upperBound...])
            head = nil
            return start(ToolCall(id: ToolCallFormat.newID(), name: name, arguments: "")) + release(after)
        }
        switch token {
        case format.callBegin:
            callStart = held.count
        case format.separator where callStart != nil && head == nil:
            if format.name == .deepseekV3 {
                head = TextStream(text, skipSpecialTokens: false)
                headText = ""
                return []
            }
            // The head is whole: a well-formed one starts the call (a malformed one waits to be text).
            guard let call = format.startedCall(head: Array(held[callStart!..<(held.count - 1)]), text: text) else { return [] }
            return start(call)
        case format.callEnd:
            if arguments != nil { return endStartedCall() }
            return flushHeld()   // a call that never started: its head was malformed
        case format.sectionEnd where callStart == nil:
            inSection = false
            held = []
        default:
            break
        }
        return []
    }

    /// At the end of generation: a started call's last arguments, or an unfinished section as text.
    mutating func finish() -> [Piece] {
        guard inSection else { return [] }
        if arguments != nil {
            let last = endStartedCall()
            inSection = false
            held = []
            return last
        }
        inSection = false
        return flushHeld()
    }

    private mutating func start(_ call: ToolCall) -> [Piece] {
        arguments = TextStream(text, skipSpecialTokens: false)
        heldBack = ""
        calls += 1
        return [.started(call)]
    }

    /// Argument text as it comes; deepseek_v3 keeps back what may be the start of its closing fence.
    private mutating func release(_ more: String) -> [Piece] {
        guard format.name == .deepseekV3 else { return more.isEmpty ? [] : [.arguments(more)] }
        heldBack += more
        let keep = Self.closingFence.count
        guard heldBack.count > keep else { return [] }
        let cut = heldBack.index(heldBack.endIndex, offsetBy: -keep)
        let out = String(heldBack[..<cut])
        heldBack = String(heldBack[cut...])
        return [.arguments(out)]
    }

    /// The started call's last argument text (deepseek_v3: without its closing fence); the section
    /// stays open for the next call.
    private mutating func endStartedCall() -> [Piece] {
        var rest = heldBack + arguments!.finish()
        if format.name == .deepseekV3 && rest.hasSuffix(Self.closingFence) { rest.removeLast(Self.closingFence.count) }
        arguments = nil
        heldBack = ""
        callStart = nil
        held = [format.sectionBegin]
        return rest.isEmpty ? [] : [.arguments(rest)]
    }

    /// Gives back the held tokens (but a lone section marker) as text and leaves the section.
    private mutating func flushHeld() -> [Piece] {
        let tokens = held.count == 1 && held[0] == format.sectionBegin ? [] : held
        held = []
        inSection = false
        callStart = nil
        head = nil
        return tokens.map { .text($0) }
    }
}
