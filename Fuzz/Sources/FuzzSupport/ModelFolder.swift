import Foundation

/// The model folder (config.json + tokenizer files) the text harnesses load once: $FUZZ_MODEL_FOLDER,
/// which scripts/fuzz writes from the built-in tiny model's tokenizer.
public func fuzzModelFolder() -> String {
    guard let folder = ProcessInfo.processInfo.environment["FUZZ_MODEL_FOLDER"] else {
        fatalError("set FUZZ_MODEL_FOLDER to a folder with config.json and tokenizer.json (scripts/fuzz does)")
    }
    return folder
}
