import Foundation

/// Where the built-in models (tiny, bench, …) live once written: one rule for the code that writes
/// them (DeepSeekModel's `BuiltinModel`) and for processes that only read a folder's text side
/// without linking model code (pd-gateway).
public enum BuiltinModelFolder {
    /// Bumped whenever a generated folder changes, so stale caches are rebuilt
    /// (3: the tokenizer files joined the weights).
    public static let formatVersion = 3

    /// Every built-in name (DeepSeekModelTests checks it against `BuiltinModel.allCases`).
    public static let names = ["tiny", "bench", "bench-bf16", "bench-fp8", "bench-moe"]

    /// $LATENTSERVE_MODEL_CACHE, else ~/.cache/latentserve/models.
    public static var defaultCacheRoot: String {
        ProcessInfo.processInfo.environment["LATENTSERVE_MODEL_CACHE"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/latentserve/models")
    }

    /// The folder of built-in `name` under `cacheRoot` (default above): "<root>/<name>-v<format>".
    public static func path(name: String, cacheRoot: String? = nil) -> String {
        ((cacheRoot ?? defaultCacheRoot) as NSString).appendingPathComponent("\(name)-v\(formatVersion)")
    }
}
