import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Ports on 127.0.0.1 for processes a test or a chaos run starts. One place hands them out, so two clusters started by
/// the same process never get the same port.
public enum LocalPorts {
    /// A port on 127.0.0.1 that is free now, released again for the server to take. It is chosen below the
    /// kernel's ephemeral range: a port from inside it could be taken, before the server binds it, by the local end
    /// of any outgoing connection on the machine (the cluster's own among them).
    public static func free() throws -> Int {
        for _ in 0..<1000 {
            let port = Int.random(in: 10_000..<ephemeralPortsStart)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    private static let handedOut = Mutex<Set<Int>>([])

    public static let ephemeralPortsStart: Int = {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
    }()

    public static func canBind(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
