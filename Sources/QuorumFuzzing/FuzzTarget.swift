import QuorumWire

/// Every decoder a stranger can reach, each as one function of bytes: the fuzz package (Fuzz/) builds a libFuzzer
/// target around each, and QuorumFuzzingTests runs each over its committed corpus (`Fuzz/Corpus/<rawValue>/`), so a
/// crash once found stays fixed. The raw value is the fuzz target's name.
///
/// A decoder may refuse any input; it may not trap, and what it accepts must survive its encoder: decoding what the
/// encoder made of a decoded value gives that value back.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `FrameDecoder` over a byte stream, every frame it cuts out decoded by its kind, parts put back together.
    case frameStream = "FuzzFrameStream"
    /// A `.peerMessages` payload: `PeerMessages`, so every Raft and Multi-Paxos message.
    case peerMessages = "FuzzPeerMessages"
    /// The other peer frames (first byte picks): `PeerHello`, `MembershipNotice`, `MembershipQuery`, `Publication`.
    case peerControl = "FuzzPeerControl"
    /// A `.clientRequest` payload, with the `StoreProposal`, `StoreCommand`, `ShardMap` and `AccessRequest` inside.
    case clientRequest = "FuzzClientRequest"
    /// A `.clientResponse` payload, as the client reads it: `StoreResult`, watch events, statuses, backups, access
    /// answers.
    case clientResponse = "FuzzClientResponse"
    /// `RESPDecoder`, through both its `[UInt8]` and its `ByteBuffer` entry points.
    case resp = "FuzzRESP"
    /// `HTTPMessageFramer`, as a server (requests) and as a proxy reading responses.
    case httpFramer = "FuzzHTTPFramer"
    /// The HTTP API's JSON request bodies (`PutBody`, `LeaseGrantBody`, `AuthenticateBody`) through `JSONDecoder`,
    /// and what the routes make of their fields: the encoding, the value's bytes, the lease id, the TTL.
    case httpBodies = "FuzzHTTPBodies"
    /// The store's codecs on their own (first byte picks): `StoreCommand`, `StoreProposal`, `StoreResult`,
    /// `WatchEvent` batches.
    case storeCommand = "FuzzStoreCommand"
    /// `KeyValueStore(restoringFrom:)`, the store's snapshot as a leader sends it.
    case storeSnapshot = "FuzzStoreSnapshot"
    /// A snapshot file: `SnapshotStore.decodeFile` and the chunked `SnapshotReader`.
    case snapshotFile = "FuzzSnapshotFile"
    /// `WriteAheadLog.open` over a segment file holding the input.
    case walRecovery = "FuzzWALRecovery"

    /// Feeds `bytes` to the decoder and checks what it returns.
    /// - Throws: `FuzzFailure` when an invariant does not hold (a refusal of the input is not one).
    public func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .frameStream: try WireHarness.frameStream(bytes)
        case .peerMessages: try WireHarness.checkFrame(Frame(kind: .peerMessages, payload: bytes))
        case .peerControl: try WireHarness.peerControl(bytes)
        case .clientRequest: try WireHarness.checkFrame(Frame(kind: .clientRequest, payload: bytes))
        case .clientResponse: try WireHarness.checkFrame(Frame(kind: .clientResponse, payload: bytes))
        case .resp: try RESPHarness.run(bytes)
        case .httpFramer: try HTTPFramerHarness.run(bytes)
        case .httpBodies: try HTTPBodiesHarness.run(bytes)
        case .storeCommand: try StoreHarness.codecs(bytes)
        case .storeSnapshot: try StoreHarness.snapshot(bytes)
        case .snapshotFile: try StorageHarness.snapshotFile(bytes)
        case .walRecovery: try StorageHarness.walRecovery(bytes)
        }
    }

    /// The body of a target's `LLVMFuzzerTestOneInput`: a failed invariant traps, so that libFuzzer saves the input.
    public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
        do { try run(bytes) } catch { fatalError("\(rawValue): \(error)") }
        return 0
    }
}

/// An invariant that did not hold for an input: a bug in the decoder or its encoder.
public struct FuzzFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Checks that decoding what `encode` makes of `value` gives `value` back.
func expectRoundTrip<Value: Equatable>(
    _ value: Value, _ what: String, encode: (Value) -> [UInt8], decode: ([UInt8]) throws -> Value
) throws(FuzzFailure) {
    let encoded = encode(value)
    let again: Value
    do { again = try decode(encoded) } catch {
        throw FuzzFailure("\(what) does not decode its own encoding: \(error)")
    }
    guard again == value else { throw FuzzFailure("\(what) changes on a round trip: \(value) became \(again)") }
}
