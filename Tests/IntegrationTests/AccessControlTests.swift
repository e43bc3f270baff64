import Foundation
import QuorumClient
import QuorumConsensus
import QuorumWire
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Users, roles and tokens (`quorum user`, `quorum role`, `quorum auth`; docs/security.md) on a real node, through
/// every front end: the Swift client and the command line, HTTP with bearer tokens, and the Redis port.
extension ClusterTests {
    @Test(
        "users and roles: each front end lets a user read and write only its prefixes; wrong passwords, expired tokens and revoked roles are refused"
    )
    func accessControl() async throws {
        let cluster = try ClusterProcesses(size: 1)
        cluster.serverArguments = ["--bcrypt-cost", "4", "--auth-token-ttl", "3"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let endpoints = cluster.clientEndpoints
        let anyone = QuorumClient(endpoints: endpoints, timeout: .seconds(10))
        _ = try await Self.awaitLeader(anyone, cluster)
        await anyone.close()

        // An operator sets up users and roles with the command line, then turns authentication on.
        let joined = endpoints.joined(separator: ",")
        let setup = [
            ["auth", "enable"],  // refused: there is no root user yet
            ["user", "add", "root", "--password", "root-secret"], ["user", "grant-role", "root", "root"],
            ["role", "add", "app"], ["role", "grant", "app", "app/"],
            ["role", "add", "auditor"], ["role", "grant", "auditor", "app/", "--access", "read"],
            ["user", "add", "alice", "--password", "alice-secret"], ["user", "grant-role", "alice", "app"],
            ["user", "add", "bob", "--password", "bob-secret"], ["user", "grant-role", "bob", "auditor"],
            ["auth", "enable"],
        ]
        for (step, command) in setup.enumerated() {
            let result = try await cluster.runCommand(command + ["--endpoints", joined], includingErrors: true)
            if step == 0 {
                #expect(result.status != 0 && result.output.contains("add user 'root'"), "\(result.output)")
            } else {
                #expect(result.status == 0, "quorum \(command.joined(separator: " ")): \(result.output)")
            }
        }

        // The client port: nobody, a wrong password, and each user's own prefixes.
        let nobody = try await cluster.runCommand(
            ["put", "app/1", "v", "--endpoints", joined, "--timeout", "3"], includingErrors: true)
        #expect(nobody.status != 0 && nobody.output.contains("authentication required"), "\(nobody.output)")
        let wrong = QuorumClient(
            endpoints: endpoints, timeout: .seconds(3), credentials: .password(user: "alice", password: "guess"))
        await #expect(throws: QuorumClientError.refused("authentication failed: wrong user name or password")) {
            try await wrong.put(Array("app/1".utf8), Array("v".utf8))
        }
        await wrong.close()
        // A user who does not exist is refused in the same words, after a password check of the same cost (against a
        // decoy hash), so that neither the answer nor its timing tells which names exist.
        let checks = HTTPClient()
        let checksBefore = try await Self.sample(
            "quorum_auth_password_checks_total", of: cluster.members[0], http: checks)
        let stranger = QuorumClient(
            endpoints: endpoints, timeout: .seconds(3), credentials: .password(user: "mallory", password: "guess"))
        await #expect(throws: QuorumClientError.refused("authentication failed: wrong user name or password")) {
            try await stranger.put(Array("app/1".utf8), Array("v".utf8))
        }
        await stranger.close()
        #expect(
            try await Self.sample("quorum_auth_password_checks_total", of: cluster.members[0], http: checks)
                == checksBefore + 1)
        let alice = QuorumClient(
            endpoints: endpoints, timeout: .seconds(5), credentials: .password(user: "alice", password: "alice-secret"))
        let bob = QuorumClient(
            endpoints: endpoints, timeout: .seconds(5), credentials: .password(user: "bob", password: "bob-secret"))
        let root = QuorumClient(
            endpoints: endpoints, timeout: .seconds(5), credentials: .password(user: "root", password: "root-secret"))
        try await alice.put(Array("app/1".utf8), Array("from alice".utf8))
        #expect(try await bob.get(Array("app/1".utf8))?.value == Array("from alice".utf8))
        try await expectDenied("alice writes outside app/") { try await alice.put(Array("other".utf8), [1]) }
        try await expectDenied("bob only reads app/") { try await bob.put(Array("app/2".utf8), [1]) }
        try await expectDenied("a range past app/") {
            _ = try await alice.range(.init(key: Array("app/".utf8), rangeEnd: Array("b".utf8)))
        }
        try await expectDenied("the cluster's own keys, password hashes among them") {
            _ = try await alice.range(.init(key: [0], rangeEnd: [0]))
        }
        try await expectDenied("membership is root's") { _ = try await alice.removeMember(NodeID(2)) }
        try await expectDenied("users are root's") {
            _ = try await alice.changeAccess(.addUser("mallory", password: "x"))
        }
        try await root.put(Array("other".utf8), Array("root may".utf8))
        let viaCommandLine = try await cluster.runCommand(
            ["get", "app/1", "--endpoints", joined, "--user", "bob:bob-secret"])
        #expect(viaCommandLine.status == 0 && viaCommandLine.output == "from alice\n", "\(viaCommandLine)")

        // HTTP: a bearer token from POST /v1/auth/authenticate, refused once it expires.
        let member = cluster.members[0]
        let http = HTTPWithToken(base: member.httpEndpoint)
        #expect(try await http.send("PUT", "/v1/kv/app/h", body: #"{"value": "x"}"#).status == 401)
        let issued = try await http.send(
            "POST", "/v1/auth/authenticate", body: #"{"name": "alice", "password": "alice-secret"}"#)
        let token = try #require(issued.json["token"] as? String, "\(issued.text)")
        #expect(try await http.send("PUT", "/v1/kv/app/h", body: #"{"value": "x"}"#, token: token).status == 200)
        let forbidden = try await http.send("PUT", "/v1/kv/other", body: #"{"value": "x"}"#, token: token)
        #expect(forbidden.status == 403 && forbidden.text.contains("permission denied"), "\(forbidden.text)")
        #expect(try await http.send("GET", "/v1/kv/app/h", token: "not-a-token").status == 401)
        let badLogin = try await http.send(
            "POST", "/v1/auth/authenticate", body: #"{"name": "alice", "password": "no"}"#)
        #expect(badLogin.status == 401, "\(badLogin.text)")
        // The token lives 3 s (--auth-token-ttl): poll until the node says it expired.
        let expired = try await Patience.within(seconds: 20) {
            while true {
                let answer = try await http.send("GET", "/v1/kv/app/h", token: token)
                if answer.status == 401 { return answer.text }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(expired?.contains("the token has expired") == true, "\(expired ?? "no answer")")

        // HTTP: root manages users, roles and grants; each change answers with them all. Tokens are fetched afresh
        // for each step, since they live 3 s here.
        func tokenOf(_ user: String) async throws -> String {
            let body = #"{"name": "\#(user)", "password": "\#(user)-secret"}"#
            let issued = try await http.send("POST", "/v1/auth/authenticate", body: body)
            return try #require(issued.json["token"] as? String, "\(user): \(issued.text)")
        }
        #expect(try await http.send("GET", "/v1/auth").status == 401)
        let byAlice = try await http.send(
            "POST", "/v1/auth/users", body: #"{"name": "mallory", "password": "x"}"#, token: try await tokenOf("alice"))
        #expect(byAlice.status == 403 && byAlice.text.contains("permission denied"), "\(byAlice.text)")
        var rootToken = try await tokenOf("root")
        let added = try await http.send(
            "POST", "/v1/auth/users", body: #"{"name": "carol", "password": "carol-secret"}"#, token: rootToken)
        #expect(added.status == 200 && (added.json["users"] as? [String: Any])?["carol"] != nil, "\(added.text)")
        #expect(try await http.send("PUT", "/v1/auth/roles/notes", token: rootToken).status == 200)
        let badGrant = try await http.send(
            "PUT", "/v1/auth/roles/notes/permissions", body: #"{"prefix": "notes/", "access": "admin"}"#,
            token: rootToken)
        #expect(badGrant.status == 400 && badGrant.text.contains("read, write or readwrite"), "\(badGrant.text)")
        let granted = try await http.send(
            "PUT", "/v1/auth/roles/notes/permissions", body: #"{"prefix": "notes/", "access": "readwrite"}"#,
            token: rootToken)
        let grants = (granted.json["roles"] as? [String: Any])?["notes"] as? [[String: Any]]
        #expect(grants?.first?["prefix"] as? String == "notes/", "\(granted.text)")
        #expect(grants?.first?["access"] as? String == "readwrite", "\(granted.text)")
        #expect(try await http.send("PUT", "/v1/auth/users/carol/roles/notes", token: rootToken).status == 200)
        var carol = try await tokenOf("carol")
        #expect(try await http.send("PUT", "/v1/kv/notes/1", body: #"{"value": "x"}"#, token: carol).status == 200)
        #expect(try await http.send("PUT", "/v1/kv/app/9", body: #"{"value": "x"}"#, token: carol).status == 403)
        rootToken = try await tokenOf("root")
        let revoked = try await http.send("DELETE", "/v1/auth/roles/notes/permissions?prefix=notes/", token: rootToken)
        #expect(revoked.status == 200, "\(revoked.text)")
        carol = try await tokenOf("carol")
        #expect(try await http.send("PUT", "/v1/kv/notes/2", body: #"{"value": "x"}"#, token: carol).status == 403)
        #expect(try await http.send("DELETE", "/v1/auth/users/carol", token: rootToken).status == 200)
        // A name may travel percent-encoded in the path.
        let mailed = try await http.send(
            "POST", "/v1/auth/users", body: #"{"name": "dave@example", "password": "x"}"#, token: rootToken)
        #expect(mailed.status == 200, "\(mailed.text)")
        let gone = try await http.send("DELETE", "/v1/auth/users/dave%40example", token: rootToken)
        #expect(gone.status == 200 && (gone.json["users"] as? [String: Any])?["dave@example"] == nil, "\(gone.text)")
        #expect(try await http.send("GET", "/v1/kv/notes/1", token: carol).status == 401, "a deleted user's token")
        let access = try await http.send("GET", "/v1/auth", token: try await tokenOf("root"))
        #expect(access.json["enabled"] as? Bool == true, "\(access.text)")
        #expect((access.json["users"] as? [String: Any])?["carol"] == nil, "\(access.text)")

        // Redis: NOAUTH, WRONGPASS, then alice's keys only; revoking her role takes effect on her open connection.
        let redis = try BlockingSocket(port: try #require(member.redisPort))
        #expect(try redis.exchange("GET app/1\r\n") == "-NOAUTH Authentication required.\r\n")
        #expect(
            try redis.exchange("AUTH alice nope\r\n")
                == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(try redis.exchange("AUTH alice alice-secret\r\n") == "+OK\r\n")
        #expect(try redis.exchange("GET app/1\r\n") == "$10\r\nfrom alice\r\n")
        #expect(try redis.exchange("SET app/r 1\r\n") == "+OK\r\n")
        #expect(
            try redis.exchange("SET other 1\r\n")
                == "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n")
        #expect(
            try redis.exchange("KEYS *\r\n") == "-NOPERM this user has no permissions to run the 'keys' command\r\n")
        #expect(try redis.exchange("ACL WHOAMI\r\n") == "$5\r\nalice\r\n")
        try await root.changeAccess(.revokeRole(user: "alice", role: "app"))
        #expect(
            try redis.exchange("SET app/r 2\r\n")
                == "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n")
        try await expectDenied("the revoked role, on the client port") { try await alice.put(Array("app/3".utf8), [1]) }

        // Users and roles are in group 1's log: they survive a restart, and the old password still works.
        cluster.kill(1)
        try cluster.start(1)
        let again = QuorumClient(
            endpoints: endpoints, timeout: .seconds(20), credentials: .password(user: "bob", password: "bob-secret"))
        #expect(try await again.get(Array("app/1".utf8))?.value == Array("from alice".utf8))
        let summary = try await root.accessSummary()
        #expect(summary.enabled && summary.users["alice"] == [] && summary.users["bob"] == ["auditor"])
        #expect(summary.roles["auditor"] == [KeyPermission(prefix: Array("app/".utf8), access: .read)])
        for client in [again, alice, bob, root] { await client.close() }
    }

    private func expectDenied(_ what: Comment, _ body: () async throws -> Void) async throws {
        do {
            try await body()
            Issue.record("allowed: \(what)")
        } catch QuorumClientError.refused(let message) {
            #expect(message.hasPrefix(AccessPolicy.deniedPrefix), "\(what): \(message)")
        }
    }
}

/// HTTP requests with an optional bearer token.
private struct HTTPWithToken {
    struct Answer {
        var status: Int
        var json: [String: Any]
        var text: String
    }

    let base: String
    let session = URLSession(configuration: .ephemeral)

    func send(_ method: String, _ path: String, body: String? = nil, token: String? = nil) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: base + path)))
        request.httpMethod = method
        request.timeoutInterval = 15
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await session.data(for: request)
        let status = try #require(response as? HTTPURLResponse).statusCode
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return Answer(status: status, json: json, text: String(decoding: data, as: UTF8.self))
    }
}
