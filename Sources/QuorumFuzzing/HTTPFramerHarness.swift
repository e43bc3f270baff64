import NIOCore
import QuorumWire

/// The HTTP/1.x framer of the proxy and the dashboard's fetches.
enum HTTPFramerHarness {
    /// What the framer made of a stream, bytes and all, with consecutive body slices joined: how the bytes were
    /// read may cut a body into other slices, and nothing else (but how much of a refused body came first).
    enum Event: Hashable {
        case head([UInt8], fields: [String])
        case body([UInt8])
        case end
        case refused(HTTPFramingError)
    }

    /// The first byte picks the role (bit 0: reading responses) and whether the response answers a HEAD (bit 1);
    /// the second where the second reading splits the rest into two reads; the rest is the stream.
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        guard input.count >= 2 else { return }
        let role: HTTPMessageFramer.Role = input[0] & 1 == 0 ? .request : .response
        let respondingToHEAD = input[0] & 2 != 0
        let bytes = Array(input.dropFirst(2))
        let split = Int(input[1]) * bytes.count / 256
        let whole = frame([bytes[...]], role: role, respondingToHEAD: respondingToHEAD)
        let inTwoReads = frame([bytes[..<split], bytes[split...]], role: role, respondingToHEAD: respondingToHEAD)
        guard whole == inTwoReads else {
            throw FuzzFailure("the framing depends on how the bytes were read: \(whole) and \(inTwoReads)")
        }
    }

    static func frame(
        _ reads: [ArraySlice<UInt8>], role: HTTPMessageFramer.Role, respondingToHEAD: Bool
    ) -> [Event] {
        var framer = HTTPMessageFramer(role: role)
        framer.respondingToHEAD = respondingToHEAD
        var buffer = ByteBuffer()
        var events: [Event] = []
        func record(_ event: HTTPMessageFramer.Event) {
            switch event {
            case .head(let head):
                // The accessors a proxy calls on every head, over the ranges the framer found.
                let fields = head.fields.map { field in
                    "\(head.string(at: field.name)): \(head.string(at: field.value)) \(head.isHopByHop(field))"
                }
                _ = head.values(named: "content-length")
                _ = head.isMethod("GET")
                events.append(.head(Array(buffer: head.bytes), fields: fields + [head.string(at: head.startLine)]))
            case .body(let slice):
                if case .body(let earlier) = events.last {
                    events[events.count - 1] = .body(earlier + Array(buffer: slice))
                } else {
                    events.append(.body(Array(buffer: slice)))
                }
            case .end:
                events.append(.end)
            }
        }
        do throws(HTTPFramingError) {
            for read in reads {
                buffer.writeBytes(read)
                while let event = try framer.next(&buffer) { record(event) }
            }
            if let event = try framer.finish(unread: buffer.readableBytes) { record(event) }
        } catch {
            // How much of a refused body is passed on before the error is seen depends on the reads: a chunk walk
            // refuses a read whose later bytes are bad before handing over its good ones. The message fails either way.
            if case .body = events.last { events.removeLast() }
            events.append(.refused(error))
        }
        return events
    }
}
