import CQuorumCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL record, snapshot file and frame.
///
/// Castagnoli rather than the zlib CRC-32 because it detects more error patterns at our record sizes, is the one
/// storage systems (ext4, iSCSI, LevelDB, etcd) agree on, and is the one x86's SSE4.2 `crc32` instruction computes
/// (ARMv8 has `crc32c*` beside its zlib ones). Where the CPU has the instruction, `update` uses it (CQuorumCRC32C);
/// elsewhere, slicing-by-8 tables: eight 256-entry tables let one step fold in eight bytes with eight independent
/// lookups, instead of eight dependent byte steps; the tail (and any input shorter than eight bytes) goes a byte at
/// a time through the first table, the plain algorithm.
public enum CRC32C {
    /// Standard check value: `checksum("123456789") == 0xE306_9283`.
    public static let checkValue: UInt32 = 0xE306_9283

    /// `tables[k * 256 + b]`: the CRC of byte `b` followed by `k` zero bytes. Table 0 is the byte-at-a-time table.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(slice - 1) * 256 + byte]
                tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

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
        tables.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc
    }

    public static func update(_ running: UInt32, with buffer: UnsafeRawBufferPointer) -> UInt32 {
        hardwareUpdate(running, with: buffer) ?? tableUpdate(running, with: buffer)
    }

    public static func finish(_ running: UInt32) -> UInt32 { ~running }

    /// Asked once, on first use, so that each call only tests an optional: the answer cannot change while the
    /// process runs.
    private static let hardware = quorum_crc32c_hardware()

    /// `update` with the CPU's CRC-32C instruction, or nil where this CPU has none. Public (as SPI) only so that
    /// the tests and the benchmarks can hold it against `tableUpdate` whatever `update` picks.
    @_spi(CRC32CImplementations)
    public static func hardwareUpdate(_ running: UInt32, with buffer: UnsafeRawBufferPointer) -> UInt32? {
        hardware.map { $0(running, buffer.baseAddress, buffer.count) }
    }

    /// `update` with the slicing-by-8 tables, on any CPU.
    @_spi(CRC32CImplementations)
    public static func tableUpdate(_ running: UInt32, with buffer: UnsafeRawBufferPointer) -> UInt32 {
        var crc = running
        tables.withUnsafeBufferPointer { table in
            var offset = 0
            while buffer.count - offset >= 8 {
                let low = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                crc =
                    table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                offset += 8
            }
            while offset < buffer.count {
                crc = table[Int((crc ^ UInt32(buffer[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
        }
        return crc
    }
}
