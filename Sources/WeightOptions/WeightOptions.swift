import ArgumentParser
import DeepSeekModel
import Tensors

/// `--weights-dtype` and `--weights-memory`: how an executable holds a checkpoint's linear weights.
public struct WeightOptions: ParsableArguments {
    @Option(help: "Linear weights in memory: \(WeightsDType.help).")
    public var weightsDtype: WeightsDType = .auto

    @Option(help: """
        Where the weights live: huge-pages (read into this process's memory on transparent 2 MiB pages: \
        faster decode, one copy per process), mmap (views of the mapped files: one page-cache copy for \
        every process on the host) or auto (huge-pages unless other ranks on this host load the same \
        files, the host lacks room for the weights twice over, or transparent huge pages are off).
        """)
    public var weightsMemory: WeightsMemory = .auto

    public init() {}

    /// The model at `folder` (an HF folder or a resolved built-in), held as these options say for a
    /// process with `ranksOnThisHost` ranks on its host: what every executable that runs a model loads.
    public func loadModel(_ folder: String, ranksOnThisHost: Int) throws -> DeepSeekTransformer {
        try DeepSeekTransformer(directory: folder, weightsDType: weightsDtype,
                                residency: residency(for: folder, ranksOnThisHost: ranksOnThisHost))
    }

    /// The residency `--weights-memory` names for the checkpoint at `folder`, `auto` decided for a
    /// process with `ranksOnThisHost` ranks (itself included) on its host.
    public func residency(for folder: String, ranksOnThisHost: Int) -> WeightResidency {
        switch weightsMemory {
        case .auto: WeightResidency.automatic(ranksOnThisHost: ranksOnThisHost, checkpoint: folder)
        case .mmap: .mmap
        case .hugePages: .hugePages
        }
    }
}

public enum WeightsMemory: String, CaseIterable, Sendable, ExpressibleByArgument {
    case auto, mmap
    case hugePages = "huge-pages"
}

/// `--weights-dtype auto|bf16|f32`.
extension WeightsDType: ExpressibleByArgument {}
