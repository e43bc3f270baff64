import Foundation
import QuorumConsensus
import QuorumServer
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The HTTP/JSON API (docs/http.md) of real `quorum server` processes, through URLSession as any HTTP client
/// would use it. An extension of `ClusterTests` so that it runs serialized with the other clusters.
extension ClusterTests {
    @Test("HTTP: put, get, range, delete, revisions and base64 keys against a real cluster")
    func httpKeys() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let http = HTTPClient()
        let leader = try await http.awaitLeader(cluster)
        let follower = cluster.members.first { $0.id != leader.id }!

        let put = try await http.send("PUT", leader, "/v1/kv/greeting", body: #"{"value": "hello"}"#)
        #expect(put.status == 200)
        let firstRevision = try #require(put.json["revision"] as? Int)
        let got = try await http.send("GET", leader, "/v1/kv/greeting")
        #expect(got.status == 200)
        #expect(got.json["key"] as? String == "greeting")
        #expect(got.json["value"] as? String == "hello")
        #expect(got.json["version"] as? Int == 1)
        #expect(got.json["createRevision"] as? Int == firstRevision)
        #expect(got.json["modRevision"] as? Int == firstRevision)
        #expect(got.json["lease"] == nil)

        // A linearizable read on a follower is served there (ReadIndex through the leader) and sees the write.
        let onFollower = try await http.send("GET", follower, "/v1/kv/greeting")
        #expect(onFollower.status == 200)
        #expect(onFollower.json["value"] as? String == "hello")

        // Overwrite, then read the old version back by revision; a serializable read is answered locally.
        _ = try await http.send("PUT", leader, "/v1/kv/greeting", body: #"{"value": "bonjour"}"#)
        let old = try await http.send("GET", leader, "/v1/kv/greeting?revision=\(firstRevision)&serializable=true")
        #expect(old.json["value"] as? String == "hello")
        #expect(try await http.send("GET", leader, "/v1/kv/greeting").json["version"] as? Int == 2)

        // Keys may contain '/' and %-escaped bytes.
        for name in ["a", "b", "c"] {
            let stored = try await http.send(
                "PUT", leader, "/v1/kv/app/config/\(name)", body: #"{"value": "v-\#(name)"}"#)
            #expect(stored.status == 200)
        }
        #expect(try await http.send("PUT", leader, "/v1/kv/app%20space", body: #"{"value": "x"}"#).status == 200)
        let spaced = try await http.send("GET", leader, "/v1/kv/app%20space")
        #expect(spaced.json["key"] as? String == "app space")

        let range = try await http.send("GET", leader, "/v1/kv?prefix=app/config/")
        #expect(range.status == 200)
        #expect(range.json["count"] as? Int == 3)
        #expect(range.json["more"] as? Bool == false)
        let keys = (range.json["kvs"] as? [[String: Any]])?.compactMap { $0["key"] as? String }
        #expect(keys == ["app/config/a", "app/config/b", "app/config/c"])
        let limited = try await http.send("GET", leader, "/v1/kv?prefix=app/config/&limit=1")
        #expect(limited.json["count"] as? Int == 3)
        #expect(limited.json["more"] as? Bool == true)
        #expect((limited.json["kvs"] as? [Any])?.count == 1)

        // Any bytes, in base64; stored bytes that are not UTF-8 come back in base64 even when UTF-8 was asked for.
        let binaryKey = Data([0xff, 0x00, 0x01]).base64EncodedString()
        let binaryValue = Data([0xfe, 0xfd]).base64EncodedString()
        let binaryPut = try await http.send(
            "PUT", leader, "/v1/kv/\(binaryKey)", body: #"{"value": "\#(binaryValue)", "encoding": "base64"}"#)
        #expect(binaryPut.status == 200)
        let binaryGet = try await http.send("GET", leader, "/v1/kv/\(binaryKey)?encoding=base64")
        #expect(binaryGet.json["value"] as? String == binaryValue)
        #expect(binaryGet.json["encoding"] as? String == "base64")
        let everything = try await http.send("GET", leader, "/v1/kv")
        let binaryEntry = (everything.json["kvs"] as? [[String: Any]])?.first { $0["key"] as? String == binaryKey }
        #expect(binaryEntry?["encoding"] as? String == "base64")

        let deleted = try await http.send("DELETE", leader, "/v1/kv/greeting")
        #expect(deleted.status == 200)
        #expect(deleted.json["deleted"] as? Int == 1)
        #expect(try #require(deleted.json["revision"] as? Int) > firstRevision)
        let missing = try await http.send("GET", leader, "/v1/kv/greeting")
        #expect(missing.status == 404)
        #expect((missing.json["error"] as? String)?.contains("does not exist") == true)
        #expect(try await http.send("DELETE", leader, "/v1/kv/greeting").json["deleted"] as? Int == 0)
    }

    @Test("HTTP: grant a lease, put a key with it, keep it alive, revoke it and the key goes")
    func httpLeases() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let http = HTTPClient()
        let leader = try await http.awaitLeader(cluster)

        let granted = try await http.send("POST", leader, "/v1/lease", body: #"{"ttl": 60}"#)
        #expect(granted.status == 200)
        #expect(granted.json["ttl"] as? Int == 60)
        let lease = try #require(granted.json["id"] as? String)

        let put = try await http.send(
            "PUT", leader, "/v1/kv/session", body: #"{"value": "alive", "lease": "\#(lease)"}"#)
        #expect(put.status == 200)
        #expect(try await http.send("GET", leader, "/v1/kv/session").json["lease"] as? String == lease)

        let kept = try await http.send("POST", leader, "/v1/lease/\(lease)/keepalive")
        #expect(kept.status == 200)
        #expect(kept.json["id"] as? String == lease)
        #expect(kept.json["ttl"] as? Int == 60)

        let revoked = try await http.send("DELETE", leader, "/v1/lease/\(lease)")
        #expect(revoked.status == 200)
        #expect(revoked.json["revision"] is Int)
        #expect(try await http.send("GET", leader, "/v1/kv/session").status == 404, "revoking deletes the key")
        #expect(try await http.send("POST", leader, "/v1/lease/\(lease)/keepalive").status == 404)
        #expect(try await http.send("DELETE", leader, "/v1/lease/\(lease)").status == 404)
        let unknownLease = try await http.send("PUT", leader, "/v1/kv/orphan", body: #"{"value": "x", "lease": "abc"}"#)
        #expect(unknownLease.status == 404)
    }

    @Test("HTTP: status of every node, followers refuse writes naming the leader, bad input gets a JSON error")
    func httpStatusAndErrors() async throws {
        let cluster = try ClusterProcesses(size: 3)
        defer { cluster.stopAll() }
        cluster.serverArguments = ["--history-revisions", "5"]
        try cluster.startAll()
        let http = HTTPClient()
        let leader = try await http.awaitLeader(cluster)
        let follower = cluster.members.first { $0.id != leader.id }!

        for member in cluster.members {
            let status = try await http.send("GET", member, "/v1/status")
            #expect(status.status == 200)
            #expect(status.json["node"] as? Int == member.id)
            #expect(status.json["voters"] as? [Int] == [1, 2, 3])
            #expect(status.json["term"] is Int)
            #expect(status.json["commitIndex"] is Int)
        }
        #expect(try await http.send("GET", leader, "/v1/status").json["role"] as? String == "leader")

        // A follower does not forward writes: 503 with the leader's id and client address, and Retry-After.
        let refused = try await http.send("PUT", follower, "/v1/kv/k", body: #"{"value": "v"}"#)
        #expect(refused.status == 503)
        #expect(refused.json["leader"] as? Int == leader.id)
        #expect(refused.json["leaderClientAddress"] as? String == leader.clientEndpoint)
        #expect((refused.json["error"] as? String)?.contains("not the leader") == true)
        #expect(refused.headers["Retry-After"] == "1")

        let cases: [(method: String, path: String, body: String?, status: Int)] = [
            ("PUT", "/v1/kv/k", "{not json", 400),
            ("PUT", "/v1/kv/k", "", 400),
            ("PUT", "/v1/kv/k", #"{"val": "v"}"#, 400),
            ("PUT", "/v1/kv/k", #"{"value": 5}"#, 400),
            ("PUT", "/v1/kv/k", #"{"value": "v", "lease": "not-hex"}"#, 400),
            ("PUT", "/v1/kv/k?encoding=base64", #"{"value": "***"}"#, 400),
            ("PUT", "/v1/kv/k?encoding=rot13", #"{"value": "v"}"#, 400),
            ("PUT", "/v1/kv/***?encoding=base64", #"{"value": "dg=="}"#, 400),
            (
                "PUT", "/v1/kv/\u{0}quorum/members/9".addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!,
                #"{"value": "v"}"#, 400
            ),
            ("GET", "/v1/kv/k?revision=abc", nil, 400),
            ("GET", "/v1/kv?limit=-1", nil, 400),
            ("GET", "/v1/kv/k?serializable=maybe", nil, 400),
            ("POST", "/v1/lease", #"{"ttl": -3}"#, 400),
            ("POST", "/v1/lease", #"{"ttl": 0}"#, 400),
            ("POST", "/v1/lease/xyz/keepalive", nil, 400),
            ("GET", "/v1/nothing-here", nil, 404),
            ("PATCH", "/v1/kv/k", "{}", 404),
            ("PUT", "/v1/kv/k", #"{"value": "\#(String(repeating: "x", count: 1_600_000))"}"#, 413),
            ("PUT", "/v1/kv/\(String(repeating: "k", count: 5000))", #"{"value": "v"}"#, 413),
        ]
        for (method, path, body, expected) in cases {
            let answer = try await http.send(method, leader, path, body: body)
            #expect(answer.status == expected, "\(method) \(path.prefix(60)) \(body?.prefix(40) ?? "")")
            #expect(answer.json["error"] is String, "\(method) \(path.prefix(60)) answered without a JSON error")
        }

        // Compacted history is a conflict: 409. Five revisions are kept, so revision 1 goes after a few writes.
        var compacted = false
        for number in 0..<40 where !compacted {
            _ = try await http.send("PUT", leader, "/v1/kv/counter", body: #"{"value": "\#(number)"}"#)
            let old = try await http.send("GET", leader, "/v1/kv/counter?revision=1")
            if old.status == 409 {
                compacted = true
                #expect((old.json["error"] as? String)?.contains("compacted") == true)
            }
        }
        #expect(compacted, "revision 1 was never compacted with 5 revisions retained")

        // After all of that every node still serves.
        for member in cluster.members {
            #expect(try await http.send("GET", member, "/v1/status").status == 200)
        }
    }
}

/// A small JSON-over-HTTP client on URLSession, as a script would use the API.
struct HTTPClient {
    struct Answer {
        var status: Int
        var json: [String: Any]
        var headers: [String: String]
        var text: String
    }

    let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 15
        return URLSession(configuration: configuration)
    }()

    func send(_ method: String, _ member: ClusterProcesses.Member, _ path: String, body: String? = nil) async throws
        -> Answer
    {
        var request = URLRequest(url: try #require(URL(string: member.httpEndpoint + path)))
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name] = value }
        }
        return Answer(status: http.statusCode, json: json, headers: headers, text: String(decoding: data, as: UTF8.self))
    }

    /// Polls every member's /v1/status until one says it leads; its HTTP port may not be open at first.
    func awaitLeader(_ cluster: ClusterProcesses) async throws -> ClusterProcesses.Member {
        for _ in 0..<200 {
            for member in cluster.members where member.process != nil {
                if let status = try? await send("GET", member, "/v1/status"), status.json["role"] as? String == "leader"
                {
                    return member
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClusterTests.LeaderMissing()
    }
}

extension ClusterTests {
    @Test("HTTP: a node hosted in this process serves HTTP, and shutdown() closes the port and returns")
    func httpShutdown() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "quorum-http-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let member = ClusterProcesses.Member(
            id: 1, peerPort: try ClusterProcesses.freePort(), clientPort: try ClusterProcesses.freePort(),
            httpPort: try ClusterProcesses.freePort())
        var configuration = ServerConfiguration(
            node: NodeID(1),
            members: [
                NodeID(1): MemberAddress(host: "127.0.0.1", peerPort: member.peerPort, clientPort: member.clientPort)
            ],
            dataDirectory: directory.path)
        configuration.tickMilliseconds = 20
        configuration.httpPort = member.httpPort
        // The server's init and shutdown block their thread until Hummingbird (on the concurrency pool) has
        // started or stopped, so they run on a thread of their own, as they do in `quorum server`.
        let server = try await onThread { [configuration] in try QuorumNodeServer(configuration: configuration) }
        let http = HTTPClient()
        var stored = false
        for _ in 0..<200 where !stored {
            stored = try await http.send("PUT", member, "/v1/kv/k", body: #"{"value": "v"}"#).status == 200
            if !stored { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(stored, "a single node never took the write")
        #expect(try await http.send("GET", member, "/v1/kv/k").json["value"] as? String == "v")

        try await onThread { try server.shutdown() }
        await #expect(throws: (any Error).self, "the HTTP port is still open after shutdown()") {
            _ = try await http.send("GET", member, "/v1/status")
        }
    }

    func onThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
