import QuorumCodec
import QuorumConsensus

/// Multi-group worlds: no message or log record of one group may reach another group's engine or state machine.
///
/// Every key of group `g` is named `g<g>.…`, so every command and every snapshot names its group. The world checks
/// each message as it reaches an engine, each log a node recovers after a crash, and (in `RegisterMachine`) each
/// command applied and each snapshot restored.
enum GroupIsolation {
    static func key(_ name: String, group: Int) -> String { "g\(group).\(name)" }

    /// The group a key belongs to; nil for a key without a group (single-group worlds).
    static func group(ofKey key: String) -> Int? {
        guard key.hasPrefix("g"), let dot = key.firstIndex(of: ".") else { return nil }
        return Int(key[key.index(after: key.startIndex)..<dot])
    }

    /// The first group other than `group` that one of these entries belongs to.
    static func foreignGroup(in entries: [Entry], expected group: Int) -> (group: Int, entry: Entry)? {
        for entry in entries {
            guard case .command(let bytes) = entry.kind, let command = RegisterCommand(decoding: bytes) else {
                continue
            }
            if let other = Self.group(ofKey: command.key), other != group { return (other, entry) }
        }
        return nil
    }

    /// The first group other than `group` that a key in this snapshot belongs to.
    static func foreignGroup(in snapshot: Snapshot, expected group: Int) -> Int? {
        var reader = ByteReader(snapshot.data)
        while reader.remaining > 0, let command = RegisterCommand(reading: &reader) {
            if let other = Self.group(ofKey: command.key), other != group { return other }
        }
        return nil
    }

    /// Why a message bound for `group`'s engine does not belong there, if it does not.
    static func violation(of message: Message, expected group: Int) -> String? {
        switch message.payload {
        case .appendEntries(let append):
            guard let foreign = foreignGroup(in: append.entries, expected: group) else { return nil }
            return "group \(foreign.group)'s entry \(foreign.entry) reached group \(group)'s engine on \(message.to)"
        case .installSnapshot(let snapshot):
            guard let foreign = foreignGroup(in: snapshot, expected: group) else { return nil }
            return "group \(foreign)'s snapshot reached group \(group)'s engine on \(message.to)"
        default:
            return nil
        }
    }
}
