import QuorumStore

/// The store's codecs: what a log entry, a client and a leader's snapshot carry.
enum StoreHarness {
    /// The first byte picks the decoder; the rest is its input.
    static func codecs(_ input: [UInt8]) throws(FuzzFailure) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        switch selector % 4 {
        case 0:
            guard let command = try? StoreCommand(decoding: bytes) else { return }
            try expectRoundTrip(command, "store command", encode: \.encoded) { try StoreCommand(decoding: $0) }
        case 1:
            guard let proposal = try? StoreProposal(decoding: bytes) else { return }
            try expectRoundTrip(proposal, "store proposal", encode: \.encoded) { try StoreProposal(decoding: $0) }
        case 2:
            guard let result = try? StoreResult(decoding: bytes) else { return }
            try expectRoundTrip(result, "store result", encode: \.encoded) { try StoreResult(decoding: $0) }
        default:
            guard let events = try? WatchEvent.decode(bytes) else { return }
            try expectRoundTrip(events, "watch events", encode: WatchEvent.encode) { try WatchEvent.decode($0) }
        }
    }

    /// A snapshot that restores is a consistent store, and its own snapshot restores to the same bytes.
    static func snapshot(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let store = try? KeyValueStore(restoringFrom: bytes) else { return }
        store.checkInvariants()
        let taken = store.snapshot()
        let restored: KeyValueStore
        do { restored = try KeyValueStore(restoringFrom: taken) } catch {
            throw FuzzFailure("a restored store's snapshot does not restore: \(error)")
        }
        guard restored.snapshot() == taken else { throw FuzzFailure("a store's snapshot changes when restored") }
    }
}
