/// One of Redis Cluster's 16,384 hash slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16,384.
///
/// The same function as Redis Cluster's, so that a Redis Cluster client computes the slot Quorum does and sends each
/// key where Quorum expects it. A hash tag — the part between the first `{` and the next `}`, if not empty — is
/// hashed instead of the whole key, so that keys sharing a tag share a slot and multi-key commands may use them
/// together.
public struct HashSlot: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let count = 16_384
    public let rawValue: Int

    /// Nil unless `0 <= rawValue < 16,384`.
    public init?(_ rawValue: Int) {
        guard (0..<Self.count).contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public init(key: some Collection<UInt8>) {
        rawValue = Int(CRC16.checksum(Self.hashedPart(of: key)) & UInt16(Self.count - 1))
    }

    /// The bytes the slot is computed from: the hash tag if the key has a non-empty one, else the whole key.
    static func hashedPart<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else {
            return key[...]
        }
        return key[afterOpen..<close]
    }

    public static func < (a: HashSlot, b: HashSlot) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "slot \(rawValue)" }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0, not reflected): the checksum Redis Cluster hashes keys with.
enum CRC16 {
    private static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ table[Int(UInt8(crc >> 8) ^ byte)] }
        return crc
    }
}
