import QuorumConsensus
import QuorumSharding
import QuorumStore
import QuorumWire

// The JSON bodies of the HTTP API's responses (docs/http.md); the requests' are `HTTPRequestBodies`, in QuorumWire.
// Field names follow etcd's JSON gateway where it has one.

struct TokenJSON: Encodable {
    var user: String
    var token: String
}

struct RevisionJSON: Encodable {
    var revision: UInt64
}

struct DeletedJSON: Encodable {
    var revision: UInt64
    var deleted: Int
}

struct LeaseJSON: Encodable {
    var id: String
    var ttl: UInt64
    var revision: UInt64
}

/// One key-value. `encoding` says how `key` and `value` are spelled: the request's choice, except that a key or
/// value that is not UTF-8 comes back in base64 even when UTF-8 was asked for.
struct KeyValueJSON: Encodable {
    var key: String
    var value: String
    var encoding: ByteEncoding
    var createRevision: UInt64
    var modRevision: UInt64
    var version: UInt64
    var lease: String?

    init(_ kv: KeyValue, encoding requested: ByteEncoding) {
        let encoding: ByteEncoding
        if let key = requested.text(from: kv.key), let value = requested.text(from: kv.value) {
            encoding = requested
            self.key = key
            self.value = value
        } else {
            encoding = .base64
            key = ByteEncoding.base64.text(from: kv.key) ?? ""
            value = ByteEncoding.base64.text(from: kv.value) ?? ""
        }
        self.encoding = encoding
        createRevision = kv.createRevision.rawValue
        modRevision = kv.modRevision.rawValue
        version = kv.version
        lease = kv.lease.map(LeaseID.hex)
    }
}

struct RangeJSON: Encodable {
    var revision: UInt64
    var kvs: [KeyValueJSON]
    var more: Bool
    var count: Int
}

struct NodeStatusJSON: Encodable {
    var node: UInt64
    var role: String
    var term: UInt64
    /// Absent while no leader is known.
    var leader: UInt64?
    var commitIndex: UInt64
    var appliedIndex: UInt64
    var lastIndex: UInt64
    var voters: [UInt64]
    var learners: [UInt64]

    init(_ status: NodeStatus) {
        node = status.node.rawValue
        role = status.role
        term = status.term.rawValue
        leader = status.leader?.rawValue
        commitIndex = status.commitIndex.rawValue
        appliedIndex = status.appliedIndex.rawValue
        lastIndex = status.lastIndex.rawValue
        voters = status.voters.map(\.rawValue)
        learners = status.learners.map(\.rawValue)
    }
}

/// `GET /v1/shards`: the shard map. Keys and prefixes are given as UTF-8 text (bytes that are not UTF-8 show as
/// U+FFFD); `end` is absent for a span that runs to the end of the key space.
struct ShardMapJSON: Encodable {
    struct SlotRange: Encodable {
        var first: Int
        var last: Int
        var group: UInt64
    }

    struct Span: Encodable {
        var start: String
        var end: String?
        var group: UInt64
    }

    struct Keyspace: Encodable {
        var prefix: String
        var spans: [Span]
    }

    struct Move: Encodable {
        var slots: SlotRange?
        var span: Span?
        var from: UInt64
    }

    var epoch: UInt64
    var slots: [SlotRange]
    var keyspaces: [Keyspace]
    var moves: [Move]

    init(_ map: ShardMap) {
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        epoch = map.epoch
        slots = map.assignment.ranges.map {
            SlotRange(first: $0.slots.lowerBound, last: $0.slots.upperBound, group: $0.group.rawValue)
        }
        keyspaces = map.keyspaces.map { keyspace in
            Keyspace(
                prefix: text(keyspace.prefix),
                spans: keyspace.owners.pieces.map {
                    Span(start: text($0.span.start), end: $0.span.end.map(text), group: $0.value.rawValue)
                })
        }
        moves = map.migrations.map { move in
            switch move.keys {
            case .slots(let slots):
                Move(
                    slots: SlotRange(first: slots.lowerBound, last: slots.upperBound, group: move.to.rawValue),
                    span: nil, from: move.from.rawValue)
            case .span(let span):
                Move(
                    slots: nil, span: Span(start: text(span.start), end: span.end.map(text), group: move.to.rawValue),
                    from: move.from.rawValue)
            }
        }
    }
}
