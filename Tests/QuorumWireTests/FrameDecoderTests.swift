import QuorumConsensus
import Testing

@testable import QuorumWire

@Suite("Frames")
struct FrameDecoderTests {
    let decoder = FrameDecoder(frameBytesMax: 1 << 16)

    @Test("a frame survives the trip through encode and decode")
    func roundTrip() throws {
        let frame = Frame(kind: .peerMessages, payload: Array(0..<200).map { UInt8($0 % 256) })
        #expect(try decoder.decode(frame.encoded) == .frame(frame, consumed: frame.encoded.count))
    }

    @Test("every strict prefix of a frame asks for more data", arguments: [0, 1, 11, 12, 13, 111])
    func prefixNeedsMoreData(length: Int) throws {
        let bytes = Frame(kind: .peerHello, payload: Array(repeating: 9, count: 100)).encoded
        #expect(try decoder.decode(Array(bytes.prefix(length))) == .needMoreData)
    }

    @Test("two frames back to back decode one at a time")
    func consecutiveFrames() throws {
        let first = Frame(kind: .peerHello, payload: [1, 2, 3])
        let second = Frame(kind: .peerMessages, payload: [4])
        let bytes = first.encoded + second.encoded
        guard case .frame(let decoded, let consumed) = try decoder.decode(bytes) else {
            Issue.record("first frame did not decode")
            return
        }
        #expect(decoded == first)
        #expect(try decoder.decode(Array(bytes[consumed...])) == .frame(second, consumed: second.encoded.count))
    }

    @Test("a flipped payload bit fails the checksum")
    func corruptPayload() {
        var bytes = Frame(kind: .peerMessages, payload: [1, 2, 3, 4]).encoded
        bytes[Frame.headerBytes + 2] ^= 0x10
        #expect(throws: WireError.self) { try decoder.decode(bytes) }
    }

    @Test("an oversized length is refused from the header alone, before the payload arrives")
    func oversizedFrame() {
        var bytes = Frame(kind: .peerMessages, payload: []).encoded
        bytes[4] = 0xFF
        bytes[5] = 0xFF
        bytes[6] = 0xFF
        #expect(throws: WireError.frameTooLarge(bytes: 0xFF_FFFF, limit: 1 << 16)) { try decoder.decode(bytes) }
    }

    @Test("bytes that are not Quorum's are refused with a hint")
    func wrongProtocol() {
        let http = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        #expect(throws: WireError.self) { try decoder.decode(http) }
        do {
            _ = try decoder.decode(http)
        } catch {
            #expect(error.description.contains("not a Quorum connection"))
        }
    }

    @Test("an unknown frame kind and an unknown version are refused")
    func unknownKindAndVersion() {
        var kind = Frame(kind: .peerHello, payload: []).encoded
        kind[3] = 200
        #expect(throws: WireError.unknownFrameKind(200)) { try decoder.decode(kind) }
        var version = Frame(kind: .peerHello, payload: []).encoded
        version[2] = 9
        #expect(throws: WireError.unsupportedVersion(9)) { try decoder.decode(version) }
    }
}
