/// libFuzzer's entry for programs that have their own `main`: SwiftPM links every executable with
/// `main` aliased to the module's entry point, so each harness's main.swift hands its
/// `LLVMFuzzerTestOneInput` to the driver here (command line as libFuzzer's).
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                 _ target: FuzzTarget) -> CInt

public func runLibFuzzer(_ target: FuzzTarget) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}

@_silgen_name("exit")
private func exit(_ status: CInt) -> Never
