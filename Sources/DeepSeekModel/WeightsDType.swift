/// How linear weights are held in memory (`--weights-dtype`): `auto` keeps each tensor in the
/// dtype its checkpoint stores (memory-mapped, no copy); an explicit dtype converts every linear
/// weight once at load (f32: the fastest prefill GEMMs at twice or four times the memory).
public enum WeightsDType: String, CaseIterable, Sendable {
    case auto, bf16, f32

    public static let help = "auto (keep the checkpoint's dtype: bf16, f16, FP8 or f32), bf16 or f32 (convert once at load)"
}
