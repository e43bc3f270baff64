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
}
