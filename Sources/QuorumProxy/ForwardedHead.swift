import NIOCore
import QuorumWire

/// How the HTTP proxy rewrites the heads it forwards. Only the head is rewritten, by copying its field lines as they
/// came and leaving out the hop-by-hop ones (RFC 9110, 7.6.1); bodies go through untouched, in the framing they came
/// in, which is why Content-Length and Transfer-Encoding are always kept.
enum ForwardedHead {
    /// The request as the instance gets it: the client's start line, its end-to-end fields, the client's address
    /// appended to X-Forwarded-For, and for an HTTP/1.0 request `Connection: keep-alive`, so that the pooled
    /// connection outlives it.
    static func request(_ head: HTTPMessageHead, clientAddress: String?, allocator: ByteBufferAllocator) -> ByteBuffer {
        var added: [(name: String, value: String)] = []
        if let clientAddress {
            let earlier = head.values(named: "x-forwarded-for").joined(separator: ", ")
            added.append(("x-forwarded-for", earlier.isEmpty ? clientAddress : "\(earlier), \(clientAddress)"))
        }
        if head.minorVersion == 0 { added.append(("connection", "keep-alive")) }
        return rewrite(
            head, dropping: { head.isHopByHop($0) || head.field($0, isNamed: "x-forwarded-for") },
            adding: added, allocator: allocator)
    }

    /// The response as the client gets it: the instance's start line and end-to-end fields, plus `connection`
    /// when the client connection's fate needs saying (`close`, or `keep-alive` to an HTTP/1.0 client). A head with
    /// nothing to change is forwarded as the very bytes it came in.
    static func response(_ head: HTTPMessageHead, connection: String?, allocator: ByteBufferAllocator) -> ByteBuffer {
        let hopByHop = head.fields.contains { head.isHopByHop($0) }
        guard hopByHop || connection != nil else { return head.bytes }
        return rewrite(
            head, dropping: { head.isHopByHop($0) }, adding: connection.map { [("connection", $0)] } ?? [],
            allocator: allocator)
    }

    private static func rewrite(
        _ head: HTTPMessageHead, dropping: (HTTPMessageHead.Field) -> Bool, adding: [(name: String, value: String)],
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let addedBytes = adding.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: head.bytes.readableBytes + addedBytes)
        let lines = head.bytes.readableBytesView
        buffer.writeBytes(lines[lines.startIndex..<head.startLine.upperBound + 2])
        for field in head.fields where !dropping(field) {
            buffer.writeBytes(lines[field.line])
        }
        for (name, value) in adding {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        return buffer
    }
}
