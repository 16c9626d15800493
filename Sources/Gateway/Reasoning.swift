import ModelText

/// vLLM's `--reasoning-parser deepseek_r1`: the text between `<think>` and `</think>` is the chat
/// message's `reasoning_content`, the rest its `content`. Read off token ids (both markers are added
/// tokens of DeepSeek's tokenizers). Where the answer starts is read off the prompt: a prompt that
/// leaves a `<think>` open (DeepSeek-R1's template; V3.1's with `chat_template_kwargs` thinking) starts
/// the output in reasoning, one that closed it (V3.1's `<think></think>`) starts it in content.
public struct ReasoningFormat: Sendable {
    public enum Name: String, CaseIterable, Sendable { case deepseekR1 = "deepseek_r1" }

    public let name: Name
    let open: Int, close: Int

    public init(_ name: Name, text: ModelText) throws {
        self.name = name
        let ids = try ToolCallFormat.markerIDs(["<think>", "</think>"], in: text, flag: "--reasoning-parser \(name.rawValue)")
        (open, close) = (ids[0], ids[1])
    }

    /// Whether the output of `prompt` starts inside a think block.
    func startsInReasoning(prompt: [Int]) -> Bool {
        guard let lastOpen = prompt.lastIndex(of: open) else { return false }
        return prompt.lastIndex(of: close).map { $0 < lastOpen } ?? true
    }
}

/// One choice's tokens split into reasoning and content (the markers themselves are neither).
struct ReasoningSplitter {
    enum Piece: Equatable {
        case reasoning(Int)
        case content(Int)
    }

    let format: ReasoningFormat
    private(set) var inReasoning: Bool

    init(format: ReasoningFormat, prompt: [Int]) {
        self.format = format
        inReasoning = format.startsInReasoning(prompt: prompt)
    }

    mutating func feed(_ token: Int) -> Piece? {
        if inReasoning {
            if token == format.close { inReasoning = false; return nil }
            return .reasoning(token)
        }
        if token == format.open { inReasoning = true; return nil }
        return .content(token)
    }
}
