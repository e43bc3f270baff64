import QuorumConsensus
import QuorumSharding
import QuorumStore
import Testing

@testable import QuorumWire

/// The cluster's access rules (`AccessPolicy`) and the changes to users and roles it builds, without a node.
@Suite("Access policy: users, roles and prefix grants")
struct AccessPolicyTests {
    /// Authentication on; alice may read and write app/, bob may only read app/, root may do everything.
    static let policy = AccessPolicy(
        enabled: true,
        users: [
            "root": AccessUser(passwordHash: "h-root", roles: ["root"]),
            "alice": AccessUser(passwordHash: "h-alice", roles: ["app"]),
            "bob": AccessUser(passwordHash: "h-bob", roles: ["auditor", "gone"]),
        ],
        roles: [
            "app": AccessRole(permissions: [KeyPermission(prefix: Array("app/".utf8), access: .readWrite)]),
            "auditor": AccessRole(permissions: [KeyPermission(prefix: Array("app/".utf8), access: .read)]),
            "everything": AccessRole(permissions: [KeyPermission(prefix: [], access: .readWrite)]),
        ])

    static func refusal(_ operation: ClientRequest.Operation, by user: String?) -> String? {
        policy.refusal(of: operation, by: user) { _ in [Array("other/locked".utf8)] }
    }

    static func put(_ key: String) -> ClientRequest.Operation {
        .write(StoreProposal(.put(PutRequest(key: Array(key.utf8), value: [1]))))
    }

    static func read(_ key: String, _ end: String? = nil) -> ClientRequest.Operation {
        .read(RangeRequest(key: Array(key.utf8), rangeEnd: end.map { Array($0.utf8) }), linearizable: true)
    }

    @Test("with authentication off everyone may do everything")
    func offAllowsAll() {
        let off = AccessPolicy(enabled: false, users: Self.policy.users, roles: Self.policy.roles)
        #expect(off.refusal(of: .membership(.remove(NodeID(2))), by: nil) { _ in [] } == nil)
        #expect(off.refusal(of: Self.put("anything"), by: nil) { _ in [] } == nil)
    }

    @Test("a user reads and writes only under the prefixes its roles grant")
    func prefixes() {
        #expect(Self.refusal(Self.put("app/1"), by: "alice") == nil)
        #expect(Self.refusal(Self.put("apple"), by: "alice")?.hasPrefix(AccessPolicy.deniedPrefix) == true)
        #expect(Self.refusal(Self.read("app/1"), by: "bob") == nil)
        #expect(Self.refusal(Self.put("app/1"), by: "bob") != nil, "read-only grant")
        // A range is allowed only within one grant's prefix: [app/, app0) is, [app/, b) is not.
        #expect(Self.refusal(Self.read("app/", "app0"), by: "alice") == nil)
        #expect(Self.refusal(Self.read("app/", "b"), by: "alice") != nil)
        #expect(Self.refusal(Self.read("app/", "\u{0}"), by: "alice") != nil, "to the end of the keyspace")
        #expect(
            Self.refusal(.watch(key: Array("app/".utf8), rangeEnd: Array("app0".utf8), startRevision: nil), by: "bob")
                == nil)
        #expect(Self.refusal(.watch(key: Array("x".utf8), rangeEnd: nil, startRevision: nil), by: "bob") != nil)
    }

    @Test(
        "a transaction needs read on what it compares and each branch's own access; a lease revocation, write on its keys"
    )
    func transactionsAndLeases() {
        let inside = TransactionRequest(
            compare: [Comparison(key: Array("app/a".utf8), .version(0), .equal)],
            success: [.put(PutRequest(key: Array("app/a".utf8), value: [1]))],
            failure: [.range(RangeRequest(key: Array("app/a".utf8)))])
        #expect(Self.refusal(.write(StoreProposal(.transaction(inside))), by: "alice") == nil)
        var outside = inside
        outside.failure = [.deleteRange(DeleteRangeRequest(key: Array("secret".utf8)))]
        #expect(Self.refusal(.write(StoreProposal(.transaction(outside))), by: "alice") != nil)
        var comparesOutside = inside
        comparesOutside.compare = [Comparison(key: Array("secret".utf8), .version(0), .equal)]
        #expect(Self.refusal(.write(StoreProposal(.transaction(comparesOutside))), by: "alice") != nil)
        #expect(Self.refusal(.write(StoreProposal(.leaseRevoke(LeaseID(7)))), by: "alice") != nil)
        #expect(Self.refusal(.write(StoreProposal(.leaseRevoke(LeaseID(7)))), by: "root") == nil)
    }

    @Test(
        "membership, shards and their load, compaction, the lease list and users are root's; nobody gets in unauthenticated"
    )
    func rootOnly() {
        for operation: ClientRequest.Operation in [
            .membership(.remove(NodeID(2))), .createReplica, .backup, .leases,
            .write(StoreProposal(.compact(Revision(5)))), .access(.addUser("x", password: "y")),
            .spanLoad(KeySpan(prefix: Array("app/".utf8))),
        ] {
            #expect(Self.refusal(operation, by: "alice")?.contains("needs the root role") == true, "\(operation)")
            #expect(Self.refusal(operation, by: "root") == nil, "\(operation)")
        }
        #expect(Self.refusal(Self.read("app/1"), by: nil) == AccessPolicy.authenticationRequired)
        #expect(Self.refusal(.access(.authenticate(user: "alice", password: "p")), by: nil) == nil)
        #expect(Self.refusal(.status, by: "bob") == nil)
        #expect(Self.refusal(Self.read("app/1"), by: "deleted")?.contains("no longer exists") == true)
    }

    @Test("the cluster's own keys stay root's even under a grant of every key")
    func reservedKeys() {
        var policy = Self.policy
        policy.users["carol"] = AccessUser(passwordHash: "h", roles: ["everything"])
        #expect(policy.allows("carol", .readWrite, key: Array("anything".utf8)))
        #expect(!policy.allows("carol", .read, key: AccessRecords.userKey("root")))
        #expect(!policy.allows("carol", .read, key: [0], rangeEnd: [0]), "a range over everything")
        #expect(policy.allows("carol", .read, key: [1], rangeEnd: [0]), "a range that starts after them")
        #expect(!policy.allows("carol", .read, key: [], rangeEnd: Array("\u{0}quorum0".utf8)))
        #expect(policy.allows("root", .read, key: [0], rangeEnd: [0]))
    }

    @Test("changes compare each record they rewrite, and refuse what would lock everyone out")
    func changes() throws {
        let grant = try Self.policy.transaction(for: .grantRole(user: "alice", role: "auditor"), passwordHash: nil)
        #expect(grant.compare.count == 2, "the role and the user as this copy has them")
        #expect(
            grant.compare.contains(
                Comparison(key: AccessRecords.userKey("alice"), .value(Self.policy.users["alice"]!.encoded), .equal)))
        #expect(
            grant.success == [
                .put(
                    PutRequest(
                        key: AccessRecords.userKey("alice"),
                        value: AccessUser(passwordHash: "h-alice", roles: ["app", "auditor"]).encoded))
            ])
        let added = try Self.policy.transaction(for: .addUser("dave", password: "pw"), passwordHash: "h-dave")
        #expect(added.compare == [Comparison(key: AccessRecords.userKey("dave"), .version(0), .equal)])
        // Deleting a role strips it from its users, each compared.
        let deleted = try Self.policy.transaction(for: .deleteRole("app"), passwordHash: nil)
        #expect(deleted.compare.count == 2 && deleted.success.count == 2)

        for (request, reason) in [
            (AccessRequest.deleteUser("root"), "turn authentication off"),
            (.revokeRole(user: "root", role: "root"), "turn authentication off"),
            (.addUser("alice", password: "pw"), "exists already"),
            (.addUser("bad name", password: "pw"), "letters, digits"),
            (.addUser("eve", password: String(repeating: "x", count: 73)), "72 bytes"),
            (.grantRole(user: "alice", role: "nope"), "no role 'nope'"),
            (.grantPermission(role: "root", KeyPermission(prefix: [], access: .read)), "built in"),
            (.revokeRole(user: "alice", role: "auditor"), "does not have"),
        ] {
            #expect(throws: AccessPolicy.ChangeRefused.self, "\(request)") {
                try Self.policy.transaction(for: request, passwordHash: "h")
            }
            do {
                _ = try Self.policy.transaction(for: request, passwordHash: "h")
            } catch {
                #expect(error.message.contains(reason), "\(request): \(error.message)")
            }
        }
        var noRoot = Self.policy
        noRoot.users["root"] = nil
        #expect(throws: AccessPolicy.ChangeRefused.self) { try noRoot.transaction(for: .enable, passwordHash: nil) }
    }

    @Test("access requests and answers survive the wire")
    func wire() throws {
        let requests: [AccessRequest] = [
            .authenticate(user: "alice", password: "p"), .authenticateWithToken("t"), .summary, .enable, .disable,
            .addUser("a", password: "p"), .deleteUser("a"), .changePassword(user: "a", password: "q"),
            .grantRole(user: "a", role: "r"), .revokeRole(user: "a", role: "r"), .addRole("r"), .deleteRole("r"),
            .grantPermission(role: "r", KeyPermission(prefix: [0xff, 0], access: .write)),
            .revokePermission(role: "r", prefix: Array("p".utf8)),
        ]
        for request in requests {
            let sent = ClientRequest(requestID: 9, group: GroupID(1), operation: .access(request))
            #expect(try ClientRequest(decoding: sent.frame) == sent)
        }
        for answer: AccessAnswer in [
            .authenticated(user: "alice", token: "abc"), .summary(Self.policy.summary),
        ] {
            let sent = ClientResponse(requestID: 3, outcome: .access(answer))
            #expect(try ClientResponse(decoding: sent.frame) == sent)
        }
        var bad = ClientRequest(requestID: 1, group: GroupID(1), operation: .access(.summary)).frame
        bad.payload[bad.payload.count - 1] = 99
        #expect(throws: WireError.self) { try ClientRequest(decoding: bad) }
    }
}
