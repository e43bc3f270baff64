/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record and snapshot file.
///
/// Castagnoli rather than the zlib CRC-32 because it detects more error patterns at our record sizes and is the
/// one storage systems (ext4, iSCSI, LevelDB, etcd) agree on. Table-driven, one byte at a time: fast enough
/// for the write rates we target (see Benchmarks/WALThroughput), and simple enough to trust.
public enum CRC32C {
    /// Standard check value: `checksum("123456789") == 0xE306_9283`.
    public static let checkValue: UInt32 = 0xE306_9283

    private static let table: [UInt32] = (0..<256).map { byte -> UInt32 in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        finish(update(start, with: bytes))
    }

    /// The running value to feed to `update` before the first byte.
    public static let start: UInt32 = 0xFFFF_FFFF

    /// Feeds more bytes into a running checksum; `finish` turns the running value into the checksum.
    public static func update(_ running: UInt32, with bytes: some Sequence<UInt8>) -> UInt32 {
        let fast = bytes.withContiguousStorageIfAvailable { buffer in
            update(running, with: UnsafeRawBufferPointer(buffer))
        }
        if let fast { return fast }
        var crc = running
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc
    }

    public static func update(_ running: UInt32, with buffer: UnsafeRawBufferPointer) -> UInt32 {
        var crc = running
        table.withUnsafeBufferPointer { table in
            for byte in buffer { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc
    }

    public static func finish(_ running: UInt32) -> UInt32 { ~running }
}
