import NIOCore
import Testing

@testable import QuorumWire

@Suite("RESP codec")
struct RESPCodecTests {
    let decoder = RESPDecoder(bulkBytesMax: 1 << 16, elementsMax: 1 << 10)

    /// Values covering every type, nested, with binary and empty payloads.
    static let samples: [RESPValue] = [
        .simpleString("OK"),
        .error("ERR unknown command 'FOO', with args beginning with: "),
        .integer(0), .integer(-1), .integer(Int64.max), .integer(Int64.min),
        .bulkString([]), .bulkString([0, 13, 10, 255, 36, 42]), .bulkString("héllo"),
        .null,
        .array([]),
        .command(["SET", "key", "value", "PX", "100"]),
        .array([.integer(1), .array([.bulkString("nested"), .null, .array([])]), .simpleString("x")]),
        .double(1.5), .double(-0.25), .double(.infinity), .double(-.infinity), .double(1e300),
        .boolean(true), .boolean(false),
        .map([.init(.bulkString("server"), .bulkString("quorum")), .init(.bulkString("proto"), .integer(3))]),
        .set([.bulkString("a"), .integer(2)]),
        .bigNumber("-3492890328409238509324850943850943825024385"),
        .verbatimString(format: "txt", text: Array("Some string".utf8)),
        .push([.bulkString("message"), .bulkString("channel"), .bulkString("payload")]),
    ]

    /// What a RESP2 reader sees of a value written in RESP2: RESP3-only types arrive in their RESP2 forms.
    static func resp2View(of value: RESPValue) -> RESPValue {
        switch value {
        case .double(let double): .bulkString(RESPValue.format(double))
        case .boolean(let flag): .integer(flag ? 1 : 0)
        case .map(let entries): .array(entries.flatMap { [resp2View(of: $0.key), resp2View(of: $0.value)] })
        case .set(let elements), .push(let elements), .array(let elements): .array(elements.map(resp2View))
        case .bigNumber(let digits): .bulkString(digits)
        case .verbatimString(_, let text): .bulkString(text)
        default: value
        }
    }

    @Test("every value survives RESP3 encoding unchanged, and RESP2 in its RESP2 form", arguments: samples)
    func roundTrip(value: RESPValue) throws {
        let resp3 = value.encoded(protocolVersion: 3)
        let decoded3 = try #require(try decoder.decode(resp3))
        #expect(decoded3.value == value)
        #expect(decoded3.consumed == resp3.count)
        let resp2 = value.encoded()
        let decoded2 = try #require(try decoder.decode(resp2))
        #expect(decoded2.value == Self.resp2View(of: value))
        #expect(decoded2.consumed == resp2.count)
    }

    @Test("the wire bytes are Redis's")
    func exactBytes() {
        #expect(
            String(decoding: RESPValue.command(["GET", "k"]).encoded(), as: UTF8.self)
                == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        #expect(String(decoding: RESPValue.null.encoded(), as: UTF8.self) == "$-1\r\n")
        #expect(String(decoding: RESPValue.null.encoded(protocolVersion: 3), as: UTF8.self) == "_\r\n")
        #expect(String(decoding: RESPValue.integer(-42).encoded(), as: UTF8.self) == ":-42\r\n")
        #expect(String(decoding: RESPValue.error("ERR x").encoded(), as: UTF8.self) == "-ERR x\r\n")
        #expect(String(decoding: RESPValue.boolean(true).encoded(protocolVersion: 3), as: UTF8.self) == "#t\r\n")
        let map = RESPValue.map([.init(.bulkString("a"), .integer(1))])
        #expect(String(decoding: map.encoded(protocolVersion: 3), as: UTF8.self) == "%1\r\n$1\r\na\r\n:1\r\n")
        #expect(String(decoding: map.encoded(), as: UTF8.self) == "*2\r\n$1\r\na\r\n:1\r\n")
        // A line break inside a simple string would split the reply; it is written as a space.
        #expect(String(decoding: RESPValue.error("ERR a\r\nb").encoded(), as: UTF8.self) == "-ERR a  b\r\n")
    }

    @Test("a RESP2 null array decodes as null")
    func nullArray() throws {
        #expect(try decoder.decode(Array("*-1\r\n".utf8))?.value == .null)
    }

    @Test("every strict prefix of a valid message needs more data", arguments: samples)
    func prefixes(value: RESPValue) throws {
        for version in [2, 3] {
            let bytes = value.encoded(protocolVersion: version)
            for length in 0..<bytes.count {
                #expect(try decoder.decode(Array(bytes.prefix(length))) == nil, "prefix \(length) of \(bytes.count)")
            }
        }
    }

    @Test("every strict prefix of an inline command needs more data")
    func inlinePrefixes() throws {
        let bytes = Array("SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n".utf8)
        for length in 0..<bytes.count {
            #expect(try decoder.decode(Array(bytes.prefix(length))) == nil)
        }
        let decoded = try #require(try decoder.decode(bytes))
        #expect(decoded.value == .command([Array("SET".utf8), Array("a b".utf8), Array("c'd".utf8), [0x41, 0x0a]]))
        #expect(decoded.consumed == bytes.count)
    }

    @Test("inline commands become arrays of bulk strings; blank lines are skipped")
    func inlineCommands() throws {
        #expect(try decoder.decode(Array("PING\r\n".utf8))?.value == .command(["PING"]))
        #expect(try decoder.decode(Array("PING\n".utf8))?.value == .command(["PING"]))
        let withBlanks = Array("\r\n  \r\nECHO   hi\r\n".utf8)
        let decoded = try #require(try decoder.decode(withBlanks))
        #expect(decoded.value == .command(["ECHO", "hi"]))
        #expect(decoded.consumed == withBlanks.count)
        #expect(try decoder.decode(Array("\r\n".utf8)) == nil)
    }

    @Test(
        "malformed input is a protocol error with Redis's wording",
        arguments: [
            ("$-2\r\n", "invalid bulk length"),
            ("$abc\r\n", "invalid bulk length"),
            ("$99999999\r\n", "invalid bulk length"),
            ("*-5\r\n", "invalid multibulk length"),
            ("*2000\r\n", "invalid multibulk length"),
            ("*1\r\nPING\r\n", "expected '$', got 'P'"),
            ("$3\r\nabcde", "expected CRLF after a bulk string"),
            (":12a\r\n", "invalid integer"),
            (":99999999999999999999\r\n", "invalid integer"),
            ("#x\r\n", "invalid boolean"),
            (",1.5.6e\r\n", "invalid double"),
            (",0x1p3\r\n", "invalid double"),
            ("+OK\n", "expected CRLF at the end of a line"),
            ("+O\rK\r\n", "expected CRLF at the end of a line"),
            ("SET \"a\r\n", "unbalanced quotes in request"),
            ("SET \"a\"b\r\n", "unbalanced quotes in request"),
            ("=2\r\nab\r\n", "invalid verbatim string"),
        ])
    func protocolErrors(input: String, reason: String) {
        #expect(throws: RESPProtocolError(reason)) { try decoder.decode(Array(input.utf8)) }
    }

    @Test("oversized lengths are refused from the header alone, before any payload arrives")
    func limitsBeforeAllocation() throws {
        let small = RESPDecoder(bulkBytesMax: 10, elementsMax: 3)
        #expect(throws: RESPProtocolError("invalid bulk length")) { try small.decode(Array("$11\r\n".utf8)) }
        #expect(try small.decode(Array("$10\r\n".utf8)) == nil)
        #expect(throws: RESPProtocolError("invalid multibulk length")) { try small.decode(Array("*4\r\n".utf8)) }
        #expect(throws: RESPProtocolError("invalid multibulk length")) { try small.decode(Array("a b c d\r\n".utf8)) }
        // A header that never ends is refused once it is longer than any valid header.
        #expect(throws: RESPProtocolError.self) {
            try small.decode(Array("$".utf8) + Array(repeating: UInt8(ascii: "1"), count: 40))
        }
        let endlessInline = Array(repeating: UInt8(ascii: "a"), count: RESPDecoder.lineBytesMax + 1)
        #expect(throws: RESPProtocolError("too big inline request")) { try small.decode(endlessInline) }
    }

    @Test("nesting deeper than the limit is refused, not recursed into")
    func depthLimit() {
        let deep = Array(String(repeating: "*1\r\n", count: RESPDecoder.depthMax + 5).utf8) + Array(":1\r\n".utf8)
        #expect(throws: RESPProtocolError("values nested too deep")) { try decoder.decode(deep) }
    }

    @Test("pipelined messages decode one at a time through the NIO entry point")
    func pipelined() throws {
        var buffer = ByteBuffer()
        RESPValue.command(["SET", "a", "1"]).write(to: &buffer)
        buffer.writeString("PING\r\n")
        RESPValue.command(["GET", "a"]).write(to: &buffer)
        buffer.writeString("*1\r\n$4\r\nPI")
        var nio = RESPDecoder()
        #expect(try nio.decode(buffer: &buffer) == .command(["SET", "a", "1"]))
        #expect(try nio.decode(buffer: &buffer) == .command(["PING"]))
        #expect(try nio.decode(buffer: &buffer) == .command(["GET", "a"]))
        #expect(try nio.decode(buffer: &buffer) == nil)
        buffer.writeString("NG\r\n")
        #expect(try nio.decode(buffer: &buffer) == .command(["PING"]))
        #expect(buffer.readableBytes == 0)
    }

    @Test("random bytes and mutated messages never trap; whatever decodes re-encodes consistently")
    func fuzz() {
        var random = SplitMix64(seed: 0x5EED)
        let valid = Self.samples.flatMap { [$0.encoded(), $0.encoded(protocolVersion: 3)] }
        let alphabet = Array("*$:+-_,#%~(=!>\r\n0123456789-abc \"'\\x".utf8)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                bytes = (0..<Int(random.next() % 64)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            default:
                bytes = valid[Int(random.next() % UInt64(valid.count))]
                for _ in 0..<(1 + random.next() % 3) where !bytes.isEmpty {
                    bytes[Int(random.next() % UInt64(bytes.count))] =
                        alphabet[Int(random.next() % UInt64(alphabet.count))]
                }
            }
            guard let decoded = try? decoder.decode(bytes) else { continue }
            #expect(decoded.consumed > 0 && decoded.consumed <= bytes.count)
            // Whatever was accepted must read back the same after writing it out again.
            let again = try? decoder.decode(decoded.value.encoded(protocolVersion: 3))
            if case .double(let double) = decoded.value, double.isNaN { continue }
            #expect(again?.value == decoded.value)
        }
    }
}

/// A tiny seeded generator, so the fuzz test is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
