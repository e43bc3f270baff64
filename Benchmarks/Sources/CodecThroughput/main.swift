// Throughput of the codecs on Quorum's hot paths, one core, no I/O: the CRC32C under every WAL record and frame,
// the binary frame codec of peer and client connections, the RESP codec of the Redis port and the HTTP/1.1 framer
// of the proxy. Each case does a fixed amount of work, 5 times; the best repetition gives MB/s (10^6 bytes of
// input, or of output for encoders) and operations/s. "check" folds every result (checksums, counts, lengths)
// into one number, so that the optimiser cannot drop the work; it must be the same in every repetition.
//
//   swift run -c release --package-path Benchmarks CodecThroughput [filter]
//
// With a filter, only the cases whose name contains it run (e.g. `RESP`, `crc32c`), for a profiler.
//
// What each case calls (public API only, and the CRC32C implementations' SPI; every input is built before the
// clock starts, from fixed seeds):
// - crc32c: `CRC32C.checksum` of one [UInt8] of 64 B, 1 KiB, 4 KiB or 64 KiB (16 distinct buffers of each size, in
//   turn): what every caller gets. At 4 KiB and 64 KiB, also each implementation it picks between, called directly
//   on the same buffers: "tables" (`CRC32C.tableUpdate`, slicing-by-8) and "instruction" (`CRC32C.hardwareUpdate`,
//   the CPU's CRC-32C instruction; the row says so where the CPU has none).
// - peer AppendEntries: one `PeerMessages` batch holding one AppendEntries message of 64 entries with 100-byte
//   commands. Encode is `batch.frame.encoded` (message encoding, then the frame header and the CRC32C of the
//   payload). Decode is `FrameDecoder.decode` of those bytes (header checks, payload copy, CRC32C) and then
//   `PeerMessages(decoding:)`. `Message.encode(into:)`/`decode(from:)` are internal to QuorumWire, so the batch
//   is the nearest public thing; it is also exactly what a peer connection sends. Not included: the copy
//   `FrameDecodingHandler` makes from its ByteBuffer into the [UInt8] it hands `FrameDecoder`.
// - client put: `ClientRequest` with a `.write` of a sessioned put (16-byte key, 100-byte value), encoded with
//   `request.frame.encoded`, decoded with `FrameDecoder.decode` + `ClientRequest(decoding:)`.
// - RESP decode: 10,000 pipelined `SET key:NNNN <16-byte value>` as RESP arrays, fed in 16 KiB ByteBuffer pieces
//   to `RESPDecoder` through NIO's `NIOSingleStepByteToMessageProcessor` (what `ByteToMessageHandler` does on the
//   Redis port: keep the unread tail, append the next read, decode until it needs more).
// - RESP encode: `RESPEncoder.encode(data:out:)` of the 10,000 `+OK` replies, and (the client's side) of the
//   10,000 SET commands, into one ByteBuffer per stream.
// - HTTP: `HTTPMessageFramer.next` over 10,000 pipelined wrk-style requests (`GET / HTTP/1.1`, Host only), over
//   10,000 responses like HTTPBenchBackend's (content-type, content-length, 9-byte body), both in 16 KiB pieces,
//   and over one response with a 1 MiB chunked body in 64 KiB pieces, in 16 KiB chunks and in 1 KiB chunks (the
//   framer walks the chunk framing and slices the data without reading it: it costs per chunk and piece, not per
//   byte). The unread tail is kept and the next piece appended to it (`UnreadBytes`), as in the
//   proxy.
// The pieces are ByteBuffers sliced from one buffer before timing: what a socket read costs is not measured.
import NIOCore
@_spi(CRC32CImplementations) import QuorumCodec
import QuorumConsensus
import QuorumStore
import QuorumWire

let repetitions = 5
let filter = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : nil
let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + padding : padding + text
}

/// "1,234,567".
func grouped(_ value: Double) -> String {
    let digits = String(Int(value.rounded()))
    var result = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { result += "," }
        result.append(character)
    }
    return result
}

/// "12.3".
func tenths(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

/// Runs `body` (one repetition's fixed work, returning its check) `repetitions` times and prints the best.
func measure(_ name: String, bytes: Int, operations: Int, _ body: () throws -> UInt64) rethrows {
    if let filter, !name.contains(filter) { return }
    var best = Double.infinity
    var check: UInt64?
    for _ in 0..<repetitions {
        var result: UInt64 = 0
        let elapsed = seconds(try clock.measure { result = try body() })
        precondition(check == nil || check == result, "\(name): repetitions disagree")
        check = result
        best = min(best, elapsed)
    }
    print(
        pad(name, 44, left: true) + pad(grouped(Double(bytes) / best / 1e6), 9)
            + pad(grouped(Double(operations) / best), 14) + pad(tenths(best * 1000), 9)
            + "  " + String(check!, radix: 16))
}

var generator = SplitMix64(seed: 20_261_128)
@MainActor func randomBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

/// Lowercase letters, for keys and values that go in text protocols.
@MainActor func randomText(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8(ascii: "a") + UInt8(generator.next() % 26) }
}

/// `bytes` cut into pieces of `size` bytes (slices sharing its storage), as a connection would read them.
func pieces(of bytes: [UInt8], size: Int) -> [ByteBuffer] {
    let whole = ByteBuffer(bytes: bytes)
    return stride(from: 0, to: bytes.count, by: size).map {
        whole.getSlice(at: $0, length: min(size, bytes.count - $0))!
    }
}

/// Feeds `pieces` to `framer` as the proxy does: the unread tail of one read, then the next read appended to it.
/// Returns the events' check: heads (with status and keep-alive), body bytes, ends.
func frameHTTP(_ pieces: [ByteBuffer], role: HTTPMessageFramer.Role) throws -> UInt64 {
    var framer = HTTPMessageFramer(role: role)
    var unread = UnreadBytes()
    var check: UInt64 = 0
    for piece in pieces {
        var buffer = unread.take(appending: piece)
        while let event = try framer.next(&buffer) {
            switch event {
            case .head(let head):
                check &+= UInt64(head.statusCode) &+ UInt64(head.fields.count) &+ (head.keepAlive ? 1 : 0)
            case .body(let body):
                check &+= UInt64(body.readableBytes) << 20
            case .end:
                check &+= 1 << 40
            }
        }
        unread.keep(buffer)
    }
    precondition(unread.count == 0 && framer.isIdle, "the HTTP stream did not end at a message boundary")
    return check
}

print("CodecThroughput: best of \(repetitions) repetitions, one core, MB = 10^6 bytes")
print(
    pad("case", 44, left: true) + pad("MB/s", 9) + pad("ops/s", 14) + pad("best ms", 9) + "  check")

// MARK: CRC32C

let crcBytesPerRepetition = 128 << 20
for size in [64, 1 << 10, 4 << 10, 64 << 10] {
    let buffers = (0..<16).map { _ in randomBytes(size) }
    let calls = crcBytesPerRepetition / size
    let label = size >= 1024 ? "\(size >> 10) KiB" : "\(size) B"
    measure("crc32c \(label)", bytes: calls * size, operations: calls) {
        var check: UInt64 = 0
        for call in 0..<calls { check &+= UInt64(CRC32C.checksum(buffers[call & 15])) }
        return check
    }
    guard size >= 4 << 10 else { continue }
    measure("crc32c \(label): tables", bytes: calls * size, operations: calls) {
        var check: UInt64 = 0
        for call in 0..<calls {
            check &+= UInt64(
                CRC32C.finish(buffers[call & 15].withUnsafeBytes { CRC32C.tableUpdate(CRC32C.start, with: $0) }))
        }
        return check
    }
    guard CRC32C.hardwareUpdate(CRC32C.start, with: UnsafeRawBufferPointer(start: nil, count: 0)) != nil else {
        let name = "crc32c \(label): instruction"
        if filter.map(name.contains) ?? true { print(pad(name, 44, left: true) + "  none on this CPU") }
        continue
    }
    measure("crc32c \(label): instruction", bytes: calls * size, operations: calls) {
        var check: UInt64 = 0
        for call in 0..<calls {
            check &+= UInt64(
                CRC32C.finish(buffers[call & 15].withUnsafeBytes { CRC32C.hardwareUpdate(CRC32C.start, with: $0)! }))
        }
        return check
    }
}

// MARK: Peer and client frames

let entryCount = 64
let entries = (0..<entryCount).map {
    Entry(term: 7, index: LogIndex(UInt64(10_001 + $0)), kind: .command(randomBytes(100)))
}
let append = Message(
    from: 1, to: 2, term: 7,
    payload: .appendEntries(
        AppendEntries(previousIndex: 10_000, previousTerm: 7, entries: entries, leaderCommit: 9_990)))
let batch = PeerMessages(group: 1, messages: [append])
let batchBytes = batch.frame.encoded
let batches = 10_000
let frameDecoder = FrameDecoder()

measure("peer AppendEntries 64x100 B: encode", bytes: batches * batchBytes.count, operations: batches) {
    var check: UInt64 = 0
    for _ in 0..<batches {
        let bytes = batch.frame.encoded
        check &+= UInt64(bytes.count) &+ UInt64(bytes[bytes.count - 1])
    }
    return check
}
try measure("peer AppendEntries 64x100 B: decode", bytes: batches * batchBytes.count, operations: batches) {
    var check: UInt64 = 0
    for _ in 0..<batches {
        guard case .frame(let frame, let consumed) = try frameDecoder.decode(batchBytes) else { fatalError() }
        let decoded = try PeerMessages(decoding: frame)
        guard case .appendEntries(let message) = decoded.groups[0].messages[0].payload else { fatalError() }
        check &+= UInt64(consumed) &+ UInt64(message.entries.count) &+ message.entries[entryCount - 1].index.rawValue
    }
    return check
}

let putValue = randomBytes(100)
let requests = (0..<1024).map { number -> ClientRequest in
    var key = Array("key:".utf8) + randomText(12)
    key[4] = UInt8(ascii: "a") + UInt8(number % 26)
    let put = StoreProposal(
        .put(PutRequest(key: key, value: putValue)),
        session: ClientSession(client: ClientID(42), sequence: SequenceNumber(UInt64(number + 1))))
    return ClientRequest(requestID: UInt64(number), group: 1, operation: .write(put))
}
let requestBytes = requests.map { $0.frame.encoded }
let puts = 200_000
let putBytes = (0..<puts).reduce(0) { $0 + requestBytes[$1 & 1023].count }

measure("client put (16 B key, 100 B value): encode", bytes: putBytes, operations: puts) {
    var check: UInt64 = 0
    for number in 0..<puts {
        let bytes = requests[number & 1023].frame.encoded
        check &+= UInt64(bytes.count) &+ UInt64(bytes[bytes.count - 1])
    }
    return check
}
try measure("client put (16 B key, 100 B value): decode", bytes: putBytes, operations: puts) {
    var check: UInt64 = 0
    for number in 0..<puts {
        guard case .frame(let frame, _) = try frameDecoder.decode(requestBytes[number & 1023]) else { fatalError() }
        let request = try ClientRequest(decoding: frame)
        guard case .write(let proposal) = request.operation, case .put(let put) = proposal.command else { fatalError() }
        check &+= request.requestID &+ UInt64(put.value.count) &+ UInt64(put.key[4])
    }
    return check
}

// MARK: RESP

let commandCount = 10_000
let respStreams = 30
var setCommands: [RESPValue] = []
var respStream: [UInt8] = []
for number in 0..<commandCount {
    let key = Array("key:".utf8) + Array(String(number + 10_000).utf8.dropFirst())
    let command = RESPValue.command([Array("SET".utf8), key, randomText(16)])
    setCommands.append(command)
    respStream += command.encoded()
}
let respPieces = pieces(of: respStream, size: 16 << 10)

try measure(
    "RESP decode 10k SET, 16 KiB pieces", bytes: respStreams * respStream.count,
    operations: respStreams * commandCount
) {
    var check: UInt64 = 0
    for _ in 0..<respStreams {
        let processor = NIOSingleStepByteToMessageProcessor(RESPDecoder())
        var count = 0
        for piece in respPieces {
            try processor.process(buffer: piece) { value in
                guard case .array(let parts) = value, parts.count == 3, case .bulkString(let key) = parts[1],
                    case .bulkString(let value) = parts[2]
                else { fatalError("not a SET") }
                count += 1
                check &+= UInt64(key[key.count - 1]) &+ UInt64(value.count) << 8
            }
        }
        precondition(count == commandCount, "RESP: \(count) commands decoded")
    }
    return check
}

let encoder = RESPEncoder()
let okReply = RESPValue.simpleString("OK")
let okBytes = commandCount * okReply.encoded().count
let replyStreams = 100
try measure("RESP encode 10k +OK replies", bytes: replyStreams * okBytes, operations: replyStreams * commandCount) {
    var check: UInt64 = 0
    for _ in 0..<replyStreams {
        var out = ByteBuffer()
        for _ in 0..<commandCount { try encoder.encode(data: okReply, out: &out) }
        check &+= UInt64(out.readableBytes)
    }
    return check
}
try measure(
    "RESP encode 10k SET commands (client)", bytes: respStreams * respStream.count,
    operations: respStreams * commandCount
) {
    var check: UInt64 = 0
    for _ in 0..<respStreams {
        var out = ByteBuffer()
        for command in setCommands { try encoder.encode(data: command, out: &out) }
        check &+= UInt64(out.readableBytes) &+ UInt64(out.getInteger(at: out.writerIndex - 3, as: UInt8.self)!)
    }
    return check
}

// MARK: HTTP/1.1

let messageCount = 10_000
let httpStreams = 30
let wrkRequest = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".utf8)
let requestStream = Array((0..<messageCount).map { _ in wrkRequest }.joined())
let requestPieces = pieces(of: requestStream, size: 16 << 10)
try measure(
    "HTTP frame 10k GET requests, 16 KiB pieces", bytes: httpStreams * requestStream.count,
    operations: httpStreams * messageCount
) {
    var check: UInt64 = 0
    for _ in 0..<httpStreams { check &+= try frameHTTP(requestPieces, role: .request) }
    return check
}

let smallResponse = Array("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\nbackend1\n".utf8)
let responseStream = Array((0..<messageCount).map { _ in smallResponse }.joined())
let responsePieces = pieces(of: responseStream, size: 16 << 10)
try measure(
    "HTTP frame 10k responses, 16 KiB pieces", bytes: httpStreams * responseStream.count,
    operations: httpStreams * messageCount
) {
    var check: UInt64 = 0
    for _ in 0..<httpStreams { check &+= try frameHTTP(responsePieces, role: .response) }
    return check
}

/// A 1 MiB response body in chunks of `chunkBytes`, framed `bodies` times.
func measureChunked(chunkBytes: Int, bodies: Int) throws {
    var response = Array(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n".utf8)
    let data = [UInt8](repeating: 0x5A, count: chunkBytes)
    for _ in 0..<((1 << 20) / chunkBytes) {
        response += Array((String(chunkBytes, radix: 16) + "\r\n").utf8) + data + Array("\r\n".utf8)
    }
    response += Array("0\r\n\r\n".utf8)
    let responsePieces = pieces(of: response, size: 64 << 10)
    try measure(
        "HTTP frame 1 MiB chunked, \(chunkBytes >> 10) KiB chunks",
        bytes: bodies * response.count, operations: bodies
    ) {
        var check: UInt64 = 0
        for _ in 0..<bodies { check &+= try frameHTTP(responsePieces, role: .response) }
        return check
    }
}
try measureChunked(chunkBytes: 16 << 10, bodies: 16_384)
try measureChunked(chunkBytes: 1 << 10, bodies: 2_048)
