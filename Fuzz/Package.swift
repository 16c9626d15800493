// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses, one per decoder of untrusted bytes. Not part of the main build: scripts/fuzz
// builds them with -sanitize=fuzzer,address into .build/fuzz (see docs/fuzzing.md).
let decoders = Target.Dependency.product(name: "FuzzedDecoders", package: "LatentServe")

let package = Package(
    name: "LatentServeFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "LatentServe", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "fuzz-wire", dependencies: ["FuzzSupport", decoders]),
        .executableTarget(name: "fuzz-kv-assembler", dependencies: ["FuzzSupport", decoders]),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzSupport", decoders]),
        .executableTarget(name: "fuzz-gateway-request", dependencies: ["FuzzSupport", decoders]),
        .executableTarget(name: "fuzz-tokenizer", dependencies: ["FuzzSupport", decoders]),
        .executableTarget(name: "fuzz-chat-template", dependencies: ["FuzzSupport", decoders]),
        .executableTarget(name: "fuzz-grammar", dependencies: ["FuzzSupport", decoders]),
    ],
    swiftLanguageModes: [.v5]
)
