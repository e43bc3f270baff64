import QuorumConsensus
import QuorumWire

/// Snapshots sent as the server sends them (`PeerTransport`, `PeerInboundHandler`): a message that carries a
/// snapshot is encoded as a peer frame, cut into `FrameParts` no larger than the receiver's frame limit (here set
/// so that it takes `SimulationOptions.snapshotParts` parts), and the parts follow one another on the link's one
/// connection, a millisecond apart. The receiver puts them back together with a `FrameAssembler` and decodes the
/// frame. A connection may break part-way, as often as the network drops a message, and the rest of the frame is
/// lost; the receiver drops what it had assembled once parts come on a new connection, or once it restarted.
extension Simulation {
    /// The receiving side of one directed link's connection.
    struct PartStream {
        var connection: UInt64
        var incarnation: Int
        var assembler: FrameAssembler
    }

    /// The sending side of one directed link's connection: its number, and when its last part leaves.
    struct PartSender {
        var connection: UInt64 = 0
        var busyUntil: UInt64 = 0
    }

    func sendInParts(_ message: Message) {
        // No connection reaches a node that is down.
        guard nodes[message.to]?.driver != nil else { return }
        let link = SimulatedNetwork.Link(from: message.from, to: message.to)
        let frame = PeerMessages(group: GroupID(1), messages: [message]).frame
        let partBytes =
            FrameParts.headerBytes + (frame.payload.count + options.snapshotParts - 1) / options.snapshotParts
        let parts = FrameParts.split(frame, frameBytesMax: partBytes)
        var sender = partSenders[link] ?? PartSender()
        let start = max(now + 1 + partDraws.next(upperBound: options.messageDelayMsMax), sender.busyUntil)
        let cutAt = partDraws.chance(network.dropRate) ? Int(partDraws.next(upperBound: UInt64(parts.count))) : nil
        let incarnation = nodes[message.to]!.incarnation
        stats.snapshotsSentInParts += 1
        for (offset, part) in parts.enumerated() {
            if offset == cutAt {
                sender.connection += 1
                stats.snapshotConnectionsCut += 1
                break
            }
            let delivery = EventKind.deliverPart(
                link, connection: sender.connection, incarnation: incarnation, part: part)
            schedule(delivery, after: start + UInt64(offset) - now)
        }
        sender.busyUntil = start + UInt64(parts.count)
        partSenders[link] = sender
    }

    func receivePart(_ part: Frame, on link: SimulatedNetwork.Link, connection: UInt64, incarnation: Int) {
        guard nodes[link.to]!.driver != nil, nodes[link.to]!.incarnation == incarnation else { return }
        var stream =
            partStreams[link].flatMap { $0.connection == connection && $0.incarnation == incarnation ? $0 : nil }
            ?? PartStream(
                connection: connection, incarnation: incarnation, assembler: FrameAssembler(bytesMax: 64 << 20))
        do throws(WireError) {
            let whole = try stream.assembler.add(part)
            partStreams[link] = stream
            guard let whole else { return }
            stats.snapshotsAssembled += 1
            for message in try PeerMessages(decoding: whole).groups.flatMap(\.messages) { deliver(message) }
        } catch {
            checker.fail("\(link.to) could not put together the parts of a frame from \(link.from): \(error)")
        }
    }
}
