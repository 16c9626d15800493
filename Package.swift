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
        .executable(name: "pd-gateway", targets: ["pd-gateway"]),
        // The decoders of untrusted bytes, for the libFuzzer harnesses in Fuzz/ (scripts/fuzz).
        .library(name: "FuzzedDecoders", targets: ["Wire", "Tensors", "Tokenizer", "ChatTemplate", "ModelText", "StructuredOutput", "Gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
    ],
    targets: [
        // Thin C shims over the system libraries (Debian packages, see scripts/setup).
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("mpi")]),
        .systemLibrary(name: "COpenBLAS"),
        .systemLibrary(name: "COneDNN"),
        .systemLibrary(name: "CGRPC"),
        .target(name: "CXXHash", linkerSettings: [.linkedLibrary("xxhash")]),
        .target(name: "CProtobufC", linkerSettings: [.linkedLibrary("protobuf-c")]),

        // What every layer shares, with no dependency and generic x86-64 codegen (a client runs on
        // any x86-64): the monotonic clock, the bf16 codec, the comma-list option parser.
        .target(name: "Basics", swiftSettings: fastMath),

        // Model stack.
        .target(name: "Tensors", dependencies: ["Basics"], swiftSettings: fastMath),
        // SIMD kernels, one variant per instruction set (AVX2 + FMA, AVX-512) chosen at run time;
        // the target itself builds for baseline x86-64 (see include/CKernels.h).
        .target(name: "CKernels"),
        // Kernels re-exports Basics (the clock) to the layers above.
        .target(name: "Kernels", dependencies: ["Basics", "Tensors", "COpenBLAS", "COneDNN", "CKernels"], swiftSettings: fastMath),
        .target(name: "DeepSeekModel", dependencies: ["Basics", "Tensors", "Kernels", "KVCache", "CXXHash"],
                resources: [.copy("BuiltinTokenizers")], swiftSettings: fastMath),
        .target(name: "ContextParallel", dependencies: ["Basics", "CMPI", "DeepSeekModel", "Kernels", "Tensors"],
                swiftSettings: fastMath),
        .target(name: "KVCache", dependencies: ["Basics", "Tensors"], swiftSettings: fastMath),
        .target(name: "Engine", dependencies: ["Basics", "DeepSeekModel", "KVCache", "ContextParallel", "Kernels", "Tensors",
                                               "StructuredOutput", "Tokenizer"],
                swiftSettings: fastMath),

        // Grammars over a model's token bytes (response_format json_object): the recognizer, the
        // vocabulary sorted for masking, the per-sequence constraint the sampler walks.
        .target(name: "StructuredOutput", dependencies: ["Tokenizer"], swiftSettings: fastMath),

        // The command-line options of a request's logits processors (pd-run, pd-client).
        .target(name: "SamplingOptions", dependencies: [
            "Basics", "Engine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // --weights-dtype / --weights-memory (pd-run, pd-prefill, pd-decode, pd-bench).
        .target(name: "WeightOptions", dependencies: [
            "DeepSeekModel", "Tensors", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Wire format and transport.
        .target(name: "Wire", dependencies: ["Basics", "CProtobufC", "CXXHash"]),
        .target(name: "Transport", dependencies: ["Basics", "CGRPC", "Wire"]),

        // The two daemons.
        .target(name: "ServiceSupport", dependencies: [
            "DeepSeekModel",
            "Engine", "StructuredOutput", "Transport", "Wire", .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "PrefillService", dependencies: [
            "ServiceSupport", "Engine", "ContextParallel", "DeepSeekModel", "KVCache", "Kernels", "Transport", "Wire", "MetricsExposition",
            "StructuredOutput",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A daemon's /metrics (--metrics-listen): swift-metrics into a swift-prometheus registry, served over HTTP.
        .target(name: "MetricsExposition", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "DecodeService", dependencies: [
            "ServiceSupport", "Engine", "DeepSeekModel", "KVCache", "Kernels", "Transport", "Wire", "MetricsExposition", "StructuredOutput",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Chat templates: a Jinja engine that renders a checkpoint's `chat_template` like transformers does.
        .target(name: "ChatTemplate", dependencies: ["Basics"]),
        // A model folder's text side for every surface: prompts and chats to ids, ids to streamed text.
        .target(name: "ModelText", dependencies: ["Basics", "Tokenizer", "ChatTemplate"]),

        // Text in, text out: HF tokenizer.json (Foundation only).
        .target(name: "Tokenizer", dependencies: ["Basics"], swiftSettings: fastMath),

        // The client library: no model code, no OpenBLAS, no AVX2-compiled kernels.
        .target(name: "ClientKit", dependencies: ["Basics", "Transport", "Wire"]),

        // The OpenAI-compatible HTTP front door: text in (ModelText), token streams from decode
        // daemons (ClientKit), routing, Prometheus metrics. No model code, no weights.
        .target(name: "Gateway", dependencies: [
            "Basics", "ClientKit", "ModelText", "ChatTemplate", "StructuredOutput", "Transport", "Wire", "MetricsExposition",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            // HTTPS (--tls-cert/--tls-key): swift-nio-ssl through Hummingbird's TLS channel.
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            // The HTTP side's own event loops (--event-loops).
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Benchmark bodies, FLOP model and hardware yardsticks (pd-bench parses options and calls them).
        .target(name: "Benchmarks", dependencies: [
            "Basics", "Engine", "DeepSeekModel", "ContextParallel", "Kernels", "KVCache", "COpenBLAS", "Wire", "Transport", "Tensors",
        ], swiftSettings: fastMath),

        // Executables: argument parsing only, logic lives in the libraries.
        .executableTarget(name: "pd-run", dependencies: [
            "WeightOptions", "Basics", "Engine", "DeepSeekModel", "ContextParallel", "KVCache", "ModelText", "SamplingOptions",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pd-bench", dependencies: [
            "WeightOptions", "Basics", "Benchmarks", "ContextParallel", "KVCache", "Wire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pd-prefill", dependencies: [
            "WeightOptions", "PrefillService", "ServiceSupport", "ContextParallel", "DeepSeekModel", "Engine", "Kernels", "Transport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "pd-decode", dependencies: [
            "WeightOptions", "Basics", "DecodeService", "ServiceSupport", "DeepSeekModel", "Engine", "Kernels", "KVCache", "Transport", "Wire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // pd-client links Engine only to compute --verify's reference generation.
        .executableTarget(name: "pd-client", dependencies: [
            "Basics", "ClientKit", "ServiceSupport", "Transport", "Wire", "Engine", "DeepSeekModel", "KVCache", "ModelText",
            "SamplingOptions",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .executableTarget(name: "pd-gateway", dependencies: [
            "Gateway", "Transport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Shared by the test targets: float-array comparisons that fail on NaN/Inf and on a count mismatch,
        // the fixture-command runner, per-process scratch directories removed at exit.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The built-in tiny model written once per test process, for the test targets that run a model.
        .target(name: "TinyModelSupport", dependencies: ["TestSupport", "DeepSeekModel"], path: "Tests/TinyModelSupport"),
        // The guide's "no per-token allocation in decode", checked on the release build by
        // Tests/Integration/decode-allocations.sh: CAllocationCounter interposes malloc & co.
        // (glibc) in this executable only.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .executableTarget(name: "allocation-check", dependencies: ["CAllocationCounter", "DeepSeekModel", "Engine", "Kernels", "KVCache",
                                                                    "StructuredOutput"],
                          path: "Tests/AllocationCheck"),

        .testTarget(name: "SystemLibrariesTests", dependencies: ["CMPI", "COpenBLAS", "COneDNN", "CGRPC", "CProtobufC", "CXXHash"]),
        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "TensorsTests", dependencies: ["TestSupport", "Tensors"]),
        .testTarget(name: "KernelsTests", dependencies: ["TestSupport", "Kernels", "Tensors"]),
        .testTarget(name: "DeepSeekModelTests", dependencies: ["TestSupport", "TinyModelSupport", "Basics", "DeepSeekModel", "Engine", "KVCache", "Kernels", "Tensors"],
                    resources: [.copy("Golden")]),
        .testTarget(name: "ContextParallelTests", dependencies: ["TestSupport", "TinyModelSupport", "ContextParallel", "DeepSeekModel", "Engine", "KVCache", "Tensors"]),
        .testTarget(name: "KVCacheTests", dependencies: ["KVCache", "Tensors"]),
        .testTarget(name: "EngineTests", dependencies: ["TinyModelSupport", "Basics", "Engine", "StructuredOutput", "ContextParallel", "DeepSeekModel", "KVCache", "Tensors"]),
        .testTarget(name: "PrefillServiceTests", dependencies: [
            "TinyModelSupport", "PrefillService", "ContextParallel", "DeepSeekModel", "Engine", "KVCache",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "DecodeServiceTests", dependencies: ["TinyModelSupport", "DecodeService", "ContextParallel", "DeepSeekModel", "Engine", "KVCache"]),
        .testTarget(name: "WireTests", dependencies: ["TestSupport", "Basics", "Wire"]),
        .testTarget(name: "TransportTests", dependencies: ["TestSupport", "Basics", "Transport", "Wire"]),
        .testTarget(name: "ClientKitTests", dependencies: ["ClientKit"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["TinyModelSupport", "Benchmarks", "DeepSeekModel", "ContextParallel"]),
        .testTarget(name: "TokenizerTests", dependencies: ["TestSupport", "Tokenizer"]),
        .testTarget(name: "StructuredOutputTests", dependencies: ["TestSupport", "StructuredOutput"], resources: [.copy("Golden")]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["TestSupport", "ChatTemplate"]),
        .testTarget(name: "ModelTextTests", dependencies: ["Basics", "ModelText", "ChatTemplate", "DeepSeekModel"]),
        .testTarget(name: "GatewayTests", dependencies: [
            "Gateway", "Basics", "ChatTemplate", "DeepSeekModel", .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
