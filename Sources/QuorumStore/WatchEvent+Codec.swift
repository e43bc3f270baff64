import QuorumCodec

extension WatchEvent {
    /// Encodes a batch of events: count u32, then each as kind u8 | kv | has prevKV u8 | prevKV?.
    public static func encode(_ events: [WatchEvent]) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeCount(events.count)
        for event in events {
            writer.write(event.kind.rawValue)
            event.kv.encode(into: &writer)
            writer.write(event.prevKV != nil)
            event.prevKV?.encode(into: &writer)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8], limits: StoreLimits = .default) throws(StoreError) -> [WatchEvent] {
        var reader = StoreReader(bytes)
        let count = try reader.readCount(minimumBytes: 2 + KeyValue.minimumEncodedBytes, what: "watch events")
        var events: [WatchEvent] = []
        events.reserveCapacity(count)
        for _ in 0..<count {
            let raw = try reader.readByte()
            guard let kind = Kind(rawValue: raw) else { throw .malformed("watch event kind \(raw)") }
            let kv = try KeyValue(decoding: &reader, limits: limits)
            let prevKV = try reader.readBool() ? try KeyValue(decoding: &reader, limits: limits) : nil
            events.append(WatchEvent(kind: kind, kv: kv, prevKV: prevKV))
        }
        try reader.expectEnd()
        return events
    }
}
