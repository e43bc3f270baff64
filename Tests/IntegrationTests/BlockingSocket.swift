import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP connection to 127.0.0.1 for byte-exact exchanges; reads give up after 10 seconds.
final class BlockingSocket: Sendable {
    private let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    /// Sends all of `text`.
    func send(_ text: String) throws {
        try send(bytes: Array(text.utf8))
    }

    /// Sends all of `bytes`.
    func send(bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { throw POSIXError(.EPIPE) }
            sent += count
        }
    }

    /// Closes the sending side: the server reads the end of the input.
    func shutdownWrite() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Sends `text` and returns what one read brings back.
    func exchange(_ text: String) throws -> String {
        try send(text)
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw POSIXError(.ECONNRESET) }
        return String(decoding: chunk[0..<count], as: UTF8.self)
    }

    /// Everything the server sends until it closes the connection.
    /// - Throws: if it did not close within the read timeout.
    func readUntilClosed() throws -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            guard count > 0 else { throw POSIXError(.ETIMEDOUT) }
            received += chunk[0..<count]
        }
    }

    /// Reads until `count` bytes have come.
    /// - Throws: if the connection closed first, or nothing came within the read timeout.
    func receive(count: Int) throws -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while received.count < count {
            let read = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, min($0.count, count - received.count), 0) }
            guard read > 0 else { throw POSIXError(read == 0 ? .ECONNRESET : .ETIMEDOUT) }
            received += chunk[0..<read]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// What one read brings: at least one byte.
    /// - Throws: if the connection closed, or nothing came within the read timeout.
    func receiveSome() throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        let read = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard read > 0 else { throw POSIXError(read == 0 ? .ECONNRESET : .ETIMEDOUT) }
        return Array(chunk[0..<read])
    }

    /// What one read brings if something arrives within `wait`; nil if nothing does.
    func receiveSome(within wait: Duration) throws -> [UInt8]? {
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&waiting, 1, milliseconds) > 0 else { return nil }
        return try receiveSome()
    }

    func close() { Glibc.close(descriptor) }
}
