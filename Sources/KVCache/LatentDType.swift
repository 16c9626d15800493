/// How the cache holds a latent row: f32, or bf16 (half the bytes, so twice the pages in the same
/// memory; rows are rounded to nearest-even when written, as the bf16 wire rounds them).
public enum LatentDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32
    case bf16

    /// Bytes per stored element.
    public var byteWidth: Int { self == .f32 ? 4 : 2 }

    public var description: String { rawValue }
}
