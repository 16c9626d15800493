import FuzzSupport

runLibFuzzer { data, size in
    guard let data else { return 0 }
    return fuzzWire(data, size)
}
