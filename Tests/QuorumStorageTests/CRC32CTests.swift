import QuorumCodec
import Testing

@testable import QuorumStorage

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("the standard check value: \"123456789\" gives 0xE3069283")
    func standardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == CRC32C.checkValue)
    }

    @Test("known vectors from RFC 3720: 32 zero bytes and 32 0xFF bytes")
    func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum([UInt8]((0..<32).map { UInt8($0) })) == 0x46DD_794E)
    }

    @Test("checksumming in pieces equals checksumming at once")
    func incremental() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        for split in [0, 1, 7, 500, 999, 1000] {
            let running = CRC32C.update(CRC32C.update(CRC32C.start, with: bytes[..<split]), with: bytes[split...])
            #expect(CRC32C.finish(running) == CRC32C.checksum(bytes))
        }
    }

    @Test("eight bytes at a time equals the bytewise definition, at every length and alignment up to 80 bytes")
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
                #expect(CRC32C.checksum(slice) == reference(slice), "start \(start), length \(length)")
            }
        }
    }
}
