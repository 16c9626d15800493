// swift-tools-version:6.0
import PackageDescription

// Hot numeric code is compiled without bounds/overflow checks in release builds only;
// debug builds (and so `swift test`) keep every check.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "LatentServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pd-run", targets: ["pd-run"]),
        .executable(name: "pd-bench", targets: ["pd-bench"]),
        .executable(name: "pd-prefill", targets: ["pd-prefill"]),
        .executable(name: "pd-decode", targets: ["pd-decode"]),
        .executable(name: "pd-client", targets: ["pd-client"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // Thin C shims over the system libraries (Debian packages, see scripts/setup).
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("mpi")]),
        .systemLibrary(name: "COpenBLAS"),
        .systemLibrary(name: "CGRPC"),
        .target(name: "CXXHash", linkerSettings: [.linkedLibrary("xxhash")]),
        .target(name: "CProtobufC", linkerSettings: [.linkedLibrary("protobuf-c")]),

        // Model stack.
        .target(name: "Tensors", swiftSettings: fastMath),
        // Kernels: AVX2 + FMA (x86-64-v3) codegen for the SIMD loops (decode's skinny GEMM, vector exp).
        .target(name: "Kernels", dependencies: ["Tensors", "COpenBLAS"],
                swiftSettings: fastMath + [.unsafeFlags(["-target-cpu", "haswell"])]),
        .target(name: "DeepSeekModel", dependencies: ["Tensors", "Kernels", "KVCache"], swiftSettings: fastMath),
        .target(name: "ContextParallel", dependencies: ["CMPI", "DeepSeekModel", "Kernels", "Tensors"],
                swiftSettings: fastMath),
        .target(name: "KVCache", dependencies: ["Tensors"], swiftSettings: fastMath),
        .target(name: "Engine", dependencies: ["DeepSeekModel", "KVCache", "ContextParallel", "Kernels", "Tensors"],
                swiftSettings: fastMath),

        // Wire format and transport.
        .target(name: "Wire", dependencies: ["CProtobufC", "CXXHash"]),
        .target(name: "Transport", dependencies: ["CGRPC", "Wire"]),

        // The two daemons.
        .target(name: "ServiceSupport", dependencies: [
            "Engine", "Transport", "Wire", .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PrefillService", dependencies: [
            "ServiceSupport", "Engine", "ContextParallel", "DeepSeekModel", "KVCache", "Kernels", "Transport", "Wire",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "DecodeService", dependencies: [
            "ServiceSupport", "Engine", "DeepSeekModel", "KVCache", "Kernels", "Transport", "Wire",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Chat templates: a Jinja engine that renders a checkpoint's `chat_template` like transformers does.
        .target(name: "ChatTemplate"),

        .target(name: "ClientKit", dependencies: ["Transport", "Wire", "Kernels"]),

        // Executables: argument parsing only, logic lives in the libraries.
        .executableTarget(name: "pd-run", dependencies: [
            "Engine", "DeepSeekModel", "ContextParallel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pd-bench", dependencies: [
            "Engine", "DeepSeekModel", "ContextParallel", "Kernels", "Wire", "Transport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fastMath),
        .executableTarget(name: "pd-prefill", dependencies: [
            "PrefillService", "ServiceSupport", "ContextParallel", "DeepSeekModel", "Engine", "Kernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "pd-decode", dependencies: [
            "DecodeService", "ServiceSupport", "DeepSeekModel", "Engine", "Kernels", "Wire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "pd-client", dependencies: [
            "ClientKit", "ServiceSupport", "Transport", "Wire", "Engine", "DeepSeekModel", "Kernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "SystemLibrariesTests", dependencies: ["CMPI", "COpenBLAS", "CGRPC", "CProtobufC", "CXXHash"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Tensors"]),
        .testTarget(name: "DeepSeekModelTests", dependencies: ["DeepSeekModel", "Engine", "KVCache", "Kernels", "Tensors"],
                    resources: [.copy("Golden")]),
        .testTarget(name: "ContextParallelTests", dependencies: ["ContextParallel", "DeepSeekModel", "Engine", "KVCache", "Tensors"]),
        .testTarget(name: "KVCacheTests", dependencies: ["KVCache", "Tensors"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "ContextParallel", "DeepSeekModel", "KVCache", "Tensors"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "Wire"]),
    ],
    swiftLanguageModes: [.v5]
)
