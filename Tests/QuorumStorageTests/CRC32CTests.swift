@_spi(CRC32CImplementations) import QuorumCodec
import QuorumConsensus
import Testing

@testable import QuorumStorage

/// Whether this CPU has a CRC-32C instruction. Where it has none, the tests of the instruction are skipped and say
/// why, instead of passing without having run it.
private let crc32cInstruction =
    CRC32C.hardwareUpdate(CRC32C.start, with: UnsafeRawBufferPointer(start: nil, count: 0)) != nil
private let noInstruction = "this CPU has no CRC-32C instruction (SSE4.2 or ARMv8 CRC): only the tables were tested"

/// The checksum of `bytes` through one implementation's update.
private func checksum(_ bytes: some Collection<UInt8>, _ update: (UInt32, UnsafeRawBufferPointer) -> UInt32) -> UInt32 {
    CRC32C.finish(Array(bytes).withUnsafeBytes { update(CRC32C.start, $0) })
}

private func hardware(_ running: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
    CRC32C.hardwareUpdate(running, with: buffer)!
}

private func table(_ running: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
    CRC32C.tableUpdate(running, with: buffer)
}

/// 300 random inputs of 0 to 4 KiB, each with the bounds of 1 to 7 pieces cut at random points (some empty).
private func randomPieces(seed: UInt64) -> [(bytes: [UInt8], bounds: [Int])] {
    var random = SplitMix64(seed: seed)
    return (0..<300).map { _ in
        let bytes = (0..<Int.random(in: 0...4096, using: &random)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let cuts = (0..<Int.random(in: 0...6, using: &random)).map { _ in
            Int.random(in: 0...bytes.count, using: &random)
        }
        return (bytes, [0] + cuts.sorted() + [bytes.count])
    }
}

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("the standard check value: \"123456789\" gives 0xE3069283")
    func standardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == CRC32C.checkValue)
        #expect(checksum("123456789".utf8, table) == CRC32C.checkValue)
    }

    @Test("known vectors from RFC 3720: 32 zero bytes and 32 0xFF bytes")
    func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum([UInt8]((0..<32).map { UInt8($0) })) == 0x46DD_794E)
        #expect(checksum([UInt8](repeating: 0, count: 32), table) == 0x8A91_36AA)
        #expect(checksum([UInt8](repeating: 0xFF, count: 32), table) == 0x62A8_AB43)
    }

    @Test(
        "the instruction gives the standard check value and RFC 3720's vectors",
        .enabled(if: crc32cInstruction, Comment(rawValue: noInstruction)))
    func instructionVectors() {
        #expect(checksum("123456789".utf8, hardware) == CRC32C.checkValue)
        #expect(checksum([UInt8](repeating: 0, count: 32), hardware) == 0x8A91_36AA)
        #expect(checksum([UInt8](repeating: 0xFF, count: 32), hardware) == 0x62A8_AB43)
        #expect(checksum([UInt8]((0..<32).map { UInt8($0) }), hardware) == 0x46DD_794E)
    }

    @Test("checksumming in pieces equals checksumming at once, through `update` and through the tables")
    func incremental() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        for split in [0, 1, 7, 500, 999, 1000] {
            let running = CRC32C.update(CRC32C.update(CRC32C.start, with: bytes[..<split]), with: bytes[split...])
            #expect(CRC32C.finish(running) == CRC32C.checksum(bytes))
        }
        for (bytes, bounds) in randomPieces(seed: 0x7AB1E) {
            var throughUpdate = CRC32C.start
            var tables = CRC32C.start
            for piece in 0..<(bounds.count - 1) {
                let slice = bytes[bounds[piece]..<bounds[piece + 1]]
                throughUpdate = CRC32C.update(throughUpdate, with: slice)
                tables = slice.withUnsafeBytes { CRC32C.tableUpdate(tables, with: $0) }
            }
            #expect(CRC32C.finish(throughUpdate) == CRC32C.checksum(bytes), "length \(bytes.count), pieces \(bounds)")
            #expect(CRC32C.finish(tables) == checksum(bytes, table), "length \(bytes.count), pieces \(bounds)")
        }
    }

    @Test(
        "the tables, eight bytes at a time, equal the bitwise definition at every length and alignment up to 80 bytes")
    func slicingMatchesBytewise() {
        // The reference: the bit-by-bit definition of the reflected CRC, no tables.
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return ~crc
        }
        let bytes = (0..<96).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }
        for start in 0..<8 {
            for length in 0...80 {
                let slice = bytes[start..<(start + length)]
                let expected = reference(slice)
                #expect(CRC32C.checksum(slice) == expected, "start \(start), length \(length)")
                let fromTable = slice.withUnsafeBytes { CRC32C.finish(CRC32C.tableUpdate(CRC32C.start, with: $0)) }
                #expect(fromTable == expected, "start \(start), length \(length)")
            }
        }
    }

    @Test(
        "the instruction equals the tables on random bytes: every length to 256, random lengths to 4 KiB, at every alignment, from random running values",
        .enabled(if: crc32cInstruction, Comment(rawValue: noInstruction)))
    func instructionMatchesTables() {
        var random = SplitMix64(seed: 0xC3C3_2C32)
        let bytes = (0..<(4096 + 16)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let lengths = Array(0...256) + (0..<300).map { _ in Int.random(in: 257...4096, using: &random) }
        bytes.withUnsafeBytes { all in
            for length in lengths {
                for offset in 0..<16 {
                    let buffer = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    let running = UInt32(truncatingIfNeeded: random.next())
                    #expect(
                        CRC32C.hardwareUpdate(running, with: buffer) == CRC32C.tableUpdate(running, with: buffer),
                        "length \(length), offset \(offset), running \(running)")
                }
            }
        }
    }

    @Test(
        "fed in pieces split at random points, through either implementation piece by piece, the checksum is the tables' of the whole",
        .enabled(if: crc32cInstruction, Comment(rawValue: noInstruction)))
    func instructionIncremental() {
        for (bytes, bounds) in randomPieces(seed: 0x5EED_C3C) {
            let whole = checksum(bytes, table)
            bytes.withUnsafeBytes { all in
                var onlyHardware = CRC32C.start
                var alternating = CRC32C.start
                for piece in 0..<(bounds.count - 1) {
                    let buffer = UnsafeRawBufferPointer(rebasing: all[bounds[piece]..<bounds[piece + 1]])
                    onlyHardware = hardware(onlyHardware, buffer)
                    alternating = piece % 2 == 0 ? hardware(alternating, buffer) : table(alternating, buffer)
                }
                #expect(CRC32C.finish(onlyHardware) == whole, "length \(bytes.count), pieces \(bounds)")
                #expect(CRC32C.finish(alternating) == whole, "length \(bytes.count), pieces \(bounds)")
            }
        }
    }
}
