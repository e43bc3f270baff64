import QuorumConsensus

/// How a simulated client picks its next register operation: out of 20 draws, gets below `readsBelow`, puts below
/// `putsBelow`, compare-and-sets above. Written values count up from one, so each is written once; a
/// compare-and-set expects a value written so far, or absence one time in five.
struct OperationMix {
    var readsBelow: UInt64 = 9
    var putsBelow: UInt64 = 16

    func draw(nextWrittenValue: inout Int, random: inout SplitMix64) -> KVOperation {
        switch random.next(upperBound: UInt64(20)) {
        case 0..<readsBelow:
            return .get
        case readsBelow..<putsBelow:
            defer { nextWrittenValue += 1 }
            return .put(nextWrittenValue)
        default:
            let expected = random.chance(0.2) ? nil : Int(random.next(upperBound: UInt64(nextWrittenValue)))
            defer { nextWrittenValue += 1 }
            return .compareAndSet(expected: expected, new: nextWrittenValue)
        }
    }
}
