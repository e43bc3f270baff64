import Foundation
import QuorumClient
import QuorumConsensus
import QuorumStore
import QuorumWire
import Testing

@testable import QuorumServer

extension ClusterTests {
    @Test(
        "a client that sends 300 reads of a 1 MB value without reading answers gets 32 served (and what the kernel buffers), then all once it reads"
    )
    func unreadAnswersAreBounded() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let leader = cluster.members[try await Self.awaitLeader(client, cluster) - 1]
        let value = [UInt8](repeating: 0x61, count: 1 << 20)
        try await client.put(Array("big".utf8), value)
        let http = HTTPClient()
        func readsServed() async throws -> Int {
            let metrics = try await http.send("GET", leader, "/metrics").text
            let line = metrics.split(separator: "\n").first {
                $0.hasPrefix("quorum_server_requests_total{") && $0.contains(#"type="linearizable_read""#)
            }
            return Int(Double(line?.split(separator: " ").last ?? "0") ?? 0)
        }
        let servedBefore = try await readsServed()

        let socket = try BlockingSocket(port: leader.clientPort)
        defer { socket.close() }
        let reads = (1...300).map { id in
            ClientRequest(
                requestID: UInt64(id), group: GroupID(1),
                operation: .read(RangeRequest(key: Array("big".utf8)), linearizable: true))
        }
        try socket.send(bytes: reads.flatMap(\.frame.encoded))
        // The node serves what fits in flight and waits for the client to read; give it the time to do more if it
        // would (the next check would see it).
        let filled = try await Self.poll { try await readsServed() - servedBefore >= ClientInboundHandler.inFlightMax }
        #expect(filled)
        try await Task.sleep(for: .milliseconds(500))
        let servedWhileUnread = try await readsServed() - servedBefore
        // The node's connection runs on the client ports' loop while answers come from the node's loop, so answers
        // flushed early can sit in the kernel's socket buffers (the node's send buffer, the client's receive buffer)
        // and free their slots: what the node serves beyond its 32 in flight is bounded by what those buffers hold.
        let kernelHeld = (Self.kernelBufferBytesMax() + value.count - 1) / value.count
        #expect(
            servedWhileUnread <= ClientInboundHandler.inFlightMax + kernelHeld,
            "served \(servedWhileUnread) with no answer read (the kernel holds at most \(kernelHeld) answers)")

        // Once the client reads, every request is answered, each with the whole value.
        var answered = 0
        var unread: [UInt8] = []
        let decoder = FrameDecoder(frameBytesMax: 16 << 20)
        while answered < 300 {
            unread += try socket.receiveSome()
            while case .frame(let frame, let consumed) = try decoder.decode(unread) {
                unread.removeFirst(consumed)
                let response = try ClientResponse(decoding: frame)
                guard case .result(.range(let found)) = response.outcome else {
                    Issue.record("answer \(response.requestID): \(response.outcome)")
                    return
                }
                #expect(found.kvs.first?.value.count == value.count)
                answered += 1
            }
        }
        #expect(try await readsServed() - servedBefore == 300)
        await client.close()
    }

    @Test(
        "a Redis client that sends 300 GETs of a 1 MB value without reading replies gets 128 served (and what the kernel buffers), then all once it reads"
    )
    func unreadRedisRepliesAreBounded() async throws {
        let (cluster, client) = try await Self.startCluster()
        defer { cluster.stopAll() }
        let leader = cluster.members[try await Self.awaitLeader(client, cluster) - 1]
        let port = try #require(leader.redisPort)
        let value = [UInt8](repeating: 0x61, count: 1 << 20)
        try await client.put(Array("big".utf8), value)
        // Commands processed, not counting this function's own INFOs (each is counted once answered).
        var infosSent = 0
        func processed() throws -> Int {
            defer { infosSent += 1 }
            let socket = try BlockingSocket(port: port)
            defer { socket.close() }
            try socket.send(bytes: Array("INFO stats\r\n".utf8))
            var text = ""
            while !text.hasSuffix("\r\n\r\n") { text += String(decoding: try socket.receiveSome(), as: UTF8.self) }
            let field = text.split(separator: "\r\n").first { $0.hasPrefix("total_commands_processed:") }
            return (Int(field?.split(separator: ":").last ?? "") ?? 0) - infosSent
        }
        let processedBefore = try processed()

        let socket = try BlockingSocket(port: port)
        defer { socket.close() }
        try socket.send(bytes: Array(String(repeating: "GET big\r\n", count: 300).utf8))
        let filled = try await Self.poll { try processed() - processedBefore >= RedisConnection.inFlightMax }
        #expect(filled)
        // Give the node the time to serve more if it would (the next check would see it).
        try await Task.sleep(for: .milliseconds(500))
        let servedWhileUnread = try processed() - processedBefore
        // A reply counts as held until the kernel takes it: what the node serves beyond its 128 is what the kernel's
        // buffers took.
        let kernelHeld = (Self.kernelBufferBytesMax() + value.count - 1) / value.count
        #expect(
            servedWhileUnread <= RedisConnection.inFlightMax + kernelHeld,
            "served \(servedWhileUnread) with no reply read (the kernel holds at most \(kernelHeld) replies)")

        // Once the client reads, every GET is answered with the whole value.
        let reply = Array("$\(value.count)\r\n".utf8) + value + Array("\r\n".utf8)
        var received: [UInt8] = []
        while received.count < 300 * reply.count { received += try socket.receiveSome() }
        #expect(received.count == 300 * reply.count)
        #expect(received.prefix(reply.count).elementsEqual(reply))
        #expect(received.suffix(reply.count).elementsEqual(reply))
        await client.close()
    }

    /// The most a TCP connection's buffers can hold: the largest send buffer plus the largest receive buffer the
    /// kernel autotunes to (`tcp_wmem` and `tcp_rmem`, their third field); 16 MiB if they cannot be read.
    static func kernelBufferBytesMax() -> Int {
        func largest(_ path: String) -> Int? {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return text.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) }
        }
        guard let send = largest("/proc/sys/net/ipv4/tcp_wmem"), let receive = largest("/proc/sys/net/ipv4/tcp_rmem")
        else { return 16 << 20 }
        return send + receive
    }
}
