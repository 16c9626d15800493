/// P = 1: every collective is a copy. The model's own single-rank path uses this.
public final class SingleRankCommunicator: Communicator {
    public let rank = 0
    public let size = 1

    public init() {}

    public func allGather(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws {
        try CollectiveChecks.allGather(sendCount: send.count, receiveCount: receive.count, size: 1)
        copy(send, into: receive)
    }

    public func allGatherV(_ send: UnsafeBufferPointer<Float>, counts: [Int], into receive: UnsafeMutableBufferPointer<Float>) throws {
        try CollectiveChecks.allGatherV(sendCount: send.count, counts: counts, receiveCount: receive.count, rank: 0, size: 1)
        copy(send, into: receive)
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try CollectiveChecks.root(root, size: 1)
    }

    public func broadcastBytes(_ message: [UInt8]?, root: Int) throws -> [UInt8] {
        try CollectiveChecks.root(root, size: 1)
        try CollectiveChecks.rootMessage(message, rank: 0, root: root)
        return message!
    }

    public func gatherBytes(_ message: [UInt8], root: Int) throws -> [[UInt8]] {
        try CollectiveChecks.root(root, size: 1)
        return [message]
    }

    public func allReduceMax(_ value: Double) throws -> Double { value }

    public func barrier() throws {}

    private func copy(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) {
        guard let source = send.baseAddress, let target = receive.baseAddress, send.count > 0,
              source != UnsafePointer(target) else { return }
        target.update(from: source, count: send.count)
    }
}
