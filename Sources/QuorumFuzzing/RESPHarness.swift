import NIOCore
import QuorumWire

/// The Redis port's decoder, as the server reads commands and the client reads replies.
enum RESPHarness {
    /// Limits small enough that the fuzzer reaches them.
    static var decoder: RESPDecoder { RESPDecoder(bulkBytesMax: 1 << 10, elementsMax: 64) }

    /// The first byte says where the `ByteBuffer` path splits the rest into two reads; the rest is the stream.
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        guard let split = input.first else { return }
        let bytes = Array(input.dropFirst())
        let whole = decodeAll(bytes)
        let inTwoReads = decodeAll(bytes, splitAt: Int(split) * bytes.count / 256)
        // Every prefix of a value is "need more data": how the bytes arrive changes nothing.
        guard whole.values.map(wireForm) == inTwoReads.values.map(wireForm), whole.refusal == inTwoReads.refusal else {
            throw FuzzFailure(
                "the two entry points disagree: \(whole.values) then \(String(describing: whole.refusal)), "
                    + "\(inTwoReads.values) then \(String(describing: inTwoReads.refusal))")
        }
        for value in whole.values { try checkEncoding(value) }
    }

    /// Every value the `[UInt8]` entry point decodes, in order, and the error that stopped it, if any.
    static func decodeAll(_ bytes: [UInt8]) -> (values: [RESPValue], refusal: RESPProtocolError?) {
        var values: [RESPValue] = []
        var rest = bytes[...]
        while true {
            do throws(RESPProtocolError) {
                guard let (value, consumed) = try decoder.decode(Array(rest)) else { return (values, nil) }
                values.append(value)
                rest = rest.dropFirst(consumed)
            } catch {
                return (values, error)
            }
        }
    }

    /// The same through the `ByteBuffer` entry point, the bytes arriving in two reads.
    static func decodeAll(_ bytes: [UInt8], splitAt split: Int) -> (values: [RESPValue], refusal: RESPProtocolError?) {
        var streaming = decoder
        var buffer = ByteBuffer(bytes: bytes[..<split])
        var values: [RESPValue] = []
        for read in [bytes[split...], []] {
            buffer.writeBytes(read)
            do {
                while let value = try streaming.decode(buffer: &buffer) { values.append(value) }
            } catch {
                return (values, error as? RESPProtocolError ?? RESPProtocolError("not a protocol error: \(error)"))
            }
        }
        return (values, nil)
    }

    /// A decoded value, written as RESP3 (which keeps every type), decodes whole to a value that writes the same
    /// bytes; and its RESP2 form decodes whole too. Bytes are compared, not values: NaN is not equal to itself.
    static func checkEncoding(_ value: RESPValue) throws(FuzzFailure) {
        let written = wireForm(value)
        let lenient = RESPDecoder()
        guard let (again, consumed) = try? lenient.decode(written), consumed == written.count else {
            throw FuzzFailure("\(value) encodes as \(written), which does not decode whole")
        }
        guard wireForm(again) == written else {
            throw FuzzFailure("\(value) changes on a round trip: \(again)")
        }
        let resp2 = value.encoded(protocolVersion: 2)
        guard let (_, consumed2) = try? lenient.decode(resp2), consumed2 == resp2.count else {
            throw FuzzFailure("\(value) encodes in RESP2 as \(resp2), which does not decode whole")
        }
    }

    private static func wireForm(_ value: RESPValue) -> [UInt8] { value.encoded(protocolVersion: 3) }
}
