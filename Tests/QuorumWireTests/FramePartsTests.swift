import Testing

@testable import QuorumWire

@Suite("Frame parts")
struct FramePartsTests {
    static func payload(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }

    @Test(
        "a frame that fits goes whole; a larger one goes in parts that fit and come back whole",
        arguments: [0, 1, 99, 100, 101, 1_000])
    func roundTrip(size: Int) throws {
        let frame = Frame(kind: .peerMessages, payload: Self.payload(size))
        let limit = 100
        let parts = FrameParts.split(frame, frameBytesMax: limit)
        if size <= limit {
            #expect(parts == [frame])
            return
        }
        #expect(parts.allSatisfy { $0.kind == .part && $0.payload.count <= limit })
        #expect(parts.count == (size + (limit - FrameParts.headerBytes) - 1) / (limit - FrameParts.headerBytes))
        var assembler = FrameAssembler(bytesMax: 1 << 20)
        for part in parts.dropLast() { #expect(try assembler.add(part) == nil) }
        #expect(try assembler.add(parts.last!) == frame)
        // The assembler is ready for the next frame.
        for part in parts.dropLast() { #expect(try assembler.add(part) == nil) }
        #expect(try assembler.add(parts.last!) == frame)
    }

    @Test("parts out of order, repeated, overrunning, of another frame, or over the limit are refused")
    func refusals() throws {
        let parts = FrameParts.split(Frame(kind: .peerMessages, payload: Self.payload(500)), frameBytesMax: 100)
        func refused(_ sequence: [Frame], bytesMax: Int = 1 << 20) -> Bool {
            var assembler = FrameAssembler(bytesMax: bytesMax)
            do {
                for part in sequence { _ = try assembler.add(part) }
                return false
            } catch {
                return true
            }
        }
        #expect(!refused(parts))
        #expect(refused([parts[1]]), "a frame cannot start in the middle")
        #expect(refused([parts[0], parts[2]]), "a part cannot be skipped")
        #expect(refused([parts[0], parts[0]]), "a part cannot come twice")
        #expect(refused([parts[0]], bytesMax: 499), "the whole is checked against the limit from its first part")
        let other = FrameParts.split(Frame(kind: .clientRequest, payload: Self.payload(500)), frameBytesMax: 100)
        #expect(refused([parts[0], other[1]]), "a part of another frame cannot continue this one")
        var overrun = parts[1]
        overrun.payload += [0]
        #expect(refused([parts[0], overrun] + parts[2...]), "a part cannot carry more than the whole has left")
        #expect(refused([Frame(kind: .peerMessages, payload: [])]), "only parts are assembled")
        for length in 0..<FrameParts.headerBytes {
            #expect(refused([Frame(kind: .part, payload: Array(parts[0].payload.prefix(length)))]))
        }
        var nested = parts[0]
        nested.payload[1] = FrameKind.part.rawValue
        #expect(refused([nested]), "parts of parts are not a thing")
    }
}
