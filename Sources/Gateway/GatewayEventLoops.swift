import NIOCore
import NIOPosix

/// Where pd-gateway's code runs: NIO's event loops serve the HTTP sockets *and* run every Swift
/// concurrency task (swift-nio's executor take-over), so a request's handler resumes on the loop
/// that owns its socket and writes there, instead of waking a thread of the default cooperative
/// pool and handing the write back to the loop. Same-run figures (scripts/gateway-overhead, tiny,
/// 120 requests, quiet host, three runs each against the binary before it): p50 TTFT added by the
/// gateway +0.72 / +0.83 / +0.71 ms with it against +0.87 / +1.30 / +0.84 ms without. Handlers must not block (they don't: decode calls are push-mode
/// gRPC, DecodeCall); CPU work in them (tokenizing, templates) runs on these loops, as in vLLM's
/// single asyncio loop.
public enum GatewayEventLoops {
    /// Call once, first thing in the process (before any use of NIO's singleton group): `count`
    /// loops serve HTTP and run tasks. False when the take-over is not possible here (then the
    /// default pool runs tasks and `count` loops still serve HTTP).
    @discardableResult
    public static func install(count: Int) -> Bool {
        NIOSingletons.groupLoopCountSuggestion = count
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
