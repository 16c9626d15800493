import Foundation

/// A FIFO handed between threads: `pop` blocks until an item arrives, the queue closes, or the
/// timeout passes. Closing wakes every waiter; items pushed after close are dropped.
public final class BlockingQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    public private(set) var isClosed = false

    public init() {}

    /// Returns false when the queue is closed (the item is dropped).
    @discardableResult
    public func push(_ item: Element) -> Bool {
        condition.lock(); defer { condition.unlock() }
        guard !isClosed else { return false }
        items.append(item)
        condition.signal()
        return true
    }

    /// The next item; nil when closed and drained, or when `timeout` seconds passed.
    public func pop(timeout: Double? = nil) -> Element? {
        condition.lock(); defer { condition.unlock() }
        let limit = timeout.map { Date(timeIntervalSinceNow: $0) }
        while head == items.count {
            if isClosed { return nil }
            if let limit {
                if !condition.wait(until: limit) && head == items.count { return nil }
            } else {
                condition.wait()
            }
        }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        return item
    }

    /// Every queued item without waiting.
    public func drain() -> [Element] {
        condition.lock(); defer { condition.unlock() }
        let out = Array(items[head...])
        items.removeAll(keepingCapacity: true)
        head = 0
        return out
    }

    public var count: Int {
        condition.lock(); defer { condition.unlock() }
        return items.count - head
    }

    public func close() {
        condition.lock(); defer { condition.unlock() }
        isClosed = true
        condition.broadcast()
    }
}
