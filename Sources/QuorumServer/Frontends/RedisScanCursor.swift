/// SCAN's cursor is the key to resume from. Clients parse cursors as integers (redis-py does), so the key is
/// written in decimal: a leading 1, then each byte as three digits. "0" starts and ends an iteration, as in Redis.
enum RedisScanCursor {
    static func encode(_ key: [UInt8]) -> String {
        "1"
            + key.map { byte in
                let digits = String(byte)
                return String(repeating: "0", count: 3 - digits.count) + digits
            }.joined()
    }

    /// The key to resume from: empty for "0" (the start); nil for a cursor this server never handed out.
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        if text == Array("0".utf8) { return [] }
        guard text.first == UInt8(ascii: "1"), (text.count - 1) % 3 == 0,
            text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        var key: [UInt8] = []
        key.reserveCapacity((text.count - 1) / 3)
        var index = 1
        while index < text.count {
            let value = text[index..<(index + 3)].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 255 else { return nil }
            key.append(UInt8(value))
            index += 3
        }
        return key
    }
}
