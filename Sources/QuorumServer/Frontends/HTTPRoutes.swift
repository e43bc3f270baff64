import Foundation
import Hummingbird
import QuorumClient
import QuorumConsensus
import QuorumSharding
import QuorumStore
import QuorumWire

/// The HTTP/JSON API (docs/http.md). Each endpoint only translates: it parses the request into the
/// `ClientRequest` a binary client would send, has the runtime handle it through `RuntimeGateway`, and spells
/// the `ClientResponse` as JSON. Anything malformed is refused here with a 400 before it reaches the node.
struct HTTPRoutes: Sendable {
    let gateway: RuntimeGateway
    let dashboardSampler: DashboardSampler
    /// The group a request names with `?group=N`. Without it, keys go to the group the shard map says owns them, and
    /// leases and status to group 1, the cluster's own.
    var group: GroupID?
    /// The token of `Authorization: Bearer TOKEN` (from `POST /v1/auth/authenticate`), for clusters with
    /// authentication on.
    var token: String?

    private static let keyPathPrefix = "/v1/kv/"

    /// The largest request body read: room for the largest value (`StoreLimits.valueBytesMax`) in base64 or with
    /// JSON escapes; the value's own limit is checked after decoding.
    static let requestBytesMax = 8 << 20

    func register(on router: Router<BasicRequestContext>) {
        // `**` because a key may contain '/'; the key is read from the raw path, not from path components.
        router.put("/v1/kv/**") { request, _ in try await addressing(request).put(request) }
        router.get("/v1/kv/**") { request, _ in try await addressing(request).get(request) }
        router.delete("/v1/kv/**") { request, _ in try await addressing(request).delete(request) }
        router.get("/v1/kv") { request, _ in try await addressing(request).range(request) }
        router.post("/v1/lease") { request, _ in try await addressing(request).grantLease(request) }
        router.post("/v1/lease/{id}/keepalive") { request, context in
            try await addressing(request).keepLeaseAlive(context.parameters.get("id"))
        }
        router.delete("/v1/lease/{id}") { request, context in
            try await addressing(request).revokeLease(context.parameters.get("id"))
        }
        router.get("/v1/status") { request, _ in try await addressing(request).status() }
        router.post("/v1/auth/authenticate") { request, _ in try await authenticate(request) }
        router.get("/v1/shards") { request, _ in try await addressing(request).shards() }
        router.get("/metrics") { _, _ in try await metrics() }
        router.get("/dashboard") { _, _ in try await dashboard() }
        registerLogLevel(on: router)
        registerAccess(on: router)
    }

    /// These routes, addressed to the group the request names, as the user its token names.
    func addressing(_ request: Request) throws -> HTTPRoutes {
        var routes = self
        if let authorization = request.headers[.authorization] {
            guard authorization.hasPrefix("Bearer "), authorization.count > 7 else {
                throw HTTPAPIError(
                    .unauthorized,
                    "the Authorization header is not 'Bearer TOKEN' (POST /v1/auth/authenticate gives one)")
            }
            routes.token = String(authorization.dropFirst(7))
        }
        guard let text = request.uri.queryParameters.get("group") else { return routes }
        guard let id = UInt64(text), id > 0 else {
            throw HTTPAPIError.badRequest("group '\(text)' is not a group number (groups count from 1)")
        }
        routes.group = GroupID(id)
        return routes
    }

    // MARK: Authentication

    /// `{"name": ..., "password": ...}` in, `{"token": ...}` out: the token authenticates later requests to this
    /// node as `Authorization: Bearer TOKEN`, until it expires (`--auth-token-ttl`).
    private func authenticate(_ request: Request) async throws -> Response {
        var request = request
        let body = try await decodeBody(
            CredentialsBody.self, of: &request, example: #"{"name": "alice", "password": "..."}"#)
        let response = await gateway.perform(.access(.authenticate(user: body.name, password: body.password)))
        guard case .access(.authenticated(let user, let token)) = response.outcome else {
            throw refusal(response.outcome)
        }
        return JSONResponse.make(.ok, TokenJSON(user: user, token: token))
    }

    // MARK: Keys

    private func put(_ request: Request) async throws -> Response {
        var request = request
        let body = try await decodeBody(PutBody.self, of: &request, example: #"{"value": "hello"}"#)
        let encoding = try encoding(of: request, body: body.encoding)
        let key = try key(of: request, encoding)
        guard let value = encoding.bytes(from: body.value) else {
            throw HTTPAPIError.badRequest("the value is not valid base64; encode it, or drop \"encoding\": \"base64\"")
        }
        let lease = try body.lease.map { text in
            guard let id = LeaseID(hex: text[...]) else {
                throw HTTPAPIError.badRequest("lease '\(text)' is not a hex lease id as POST /v1/lease returns it")
            }
            return id
        }
        try checkSize(of: value, limit: StoreLimits.default.valueBytesMax, what: "value")
        let result = try await write(
            .put(PutRequest(key: key, value: value, lease: lease)), ownerOf: key)
        guard case .put(let put) = result else { throw unexpected(result) }
        return JSONResponse.make(.ok, RevisionJSON(revision: put.revision.rawValue))
    }

    private func get(_ request: Request) async throws -> Response {
        let encoding = try encoding(of: request, body: nil)
        let key = try key(of: request, encoding)
        let range = RangeRequest(key: key, revision: try revision(of: request))
        let found = try await read(range, linearizable: !(try serializable(request)), in: group, ownerOf: key)
        guard let kv = found.kvs.first else {
            throw HTTPAPIError(.notFound, "key \(describe(key)) does not exist; PUT /v1/kv/{key} creates it")
        }
        return JSONResponse.make(.ok, KeyValueJSON(kv, encoding: encoding))
    }

    private func range(_ request: Request) async throws -> Response {
        let encoding = try encoding(of: request, body: nil)
        let query = request.uri.queryParameters
        let prefix = try query.get("prefix").map { text in
            guard let bytes = encoding.bytes(from: text) else {
                throw HTTPAPIError.badRequest(
                    "prefix '\(text)' is not valid base64; encode it, or drop encoding=base64")
            }
            return bytes
        }
        var limit = 0
        if let text = query.get("limit") {
            guard let parsed = Int(text), parsed >= 0 else {
                throw HTTPAPIError.badRequest("limit '\(text)' is not a whole number >= 0 (0 means no limit)")
            }
            limit = parsed
        }
        let revision = try revision(of: request)
        let range: RangeRequest =
            if let prefix, !prefix.isEmpty {
                .prefix(prefix, limit: limit, revision: revision)
            } else {
                .all(limit: limit, revision: revision)
            }
        let linearizable = !(try serializable(request))
        let found =
            if let group {
                try await read(range, linearizable: linearizable, in: group)
            } else {
                try await readAcrossShards(range, linearizable: linearizable)
            }
        return JSONResponse.make(
            .ok,
            RangeJSON(
                revision: found.revision.rawValue, kvs: found.kvs.map { KeyValueJSON($0, encoding: encoding) },
                more: found.more, count: found.count))
    }

    private func delete(_ request: Request) async throws -> Response {
        let key = try key(of: request, try encoding(of: request, body: nil))
        let result = try await write(.deleteRange(DeleteRangeRequest(key: key)), ownerOf: key)
        guard case .deleteRange(let deleted) = result else { throw unexpected(result) }
        return JSONResponse.make(.ok, DeletedJSON(revision: deleted.revision.rawValue, deleted: deleted.deleted))
    }

    // MARK: Leases

    private func grantLease(_ request: Request) async throws -> Response {
        var request = request
        let body = try await decodeBody(LeaseGrantBody.self, of: &request, example: #"{"ttl": 10}"#)
        // The grant names the lease, so that applying it is deterministic; the binary client picks ids the same way.
        let id = LeaseID(UInt64.random(in: 1...UInt64(Int64.max)))
        // grantedAt is a placeholder: the leader stamps its own clock into every lease command.
        let result = try await write(.leaseGrant(id: id, ttl: LeaseTTL(seconds: body.ttl), grantedAt: 0))
        guard case .leaseGranted(let granted, let ttl, let revision) = result else { throw unexpected(result) }
        return JSONResponse.make(
            .ok, LeaseJSON(id: LeaseID.hex(granted), ttl: ttl.seconds, revision: revision.rawValue))
    }

    private func keepLeaseAlive(_ idText: String?) async throws -> Response {
        let result = try await write(.leaseKeepAlive(id: try leaseID(idText), at: 0))
        guard case .leaseKeptAlive(let id, let ttl, let revision) = result else { throw unexpected(result) }
        return JSONResponse.make(.ok, LeaseJSON(id: LeaseID.hex(id), ttl: ttl.seconds, revision: revision.rawValue))
    }

    private func revokeLease(_ idText: String?) async throws -> Response {
        let result = try await write(.leaseRevoke(try leaseID(idText)))
        guard case .leaseRevoked(let revision) = result else { throw unexpected(result) }
        return JSONResponse.make(.ok, RevisionJSON(revision: revision.rawValue))
    }

    // MARK: Status

    private func status() async throws -> Response {
        let response = await gateway.perform(.status, group: group ?? NodeHost.clusterGroup, token: token)
        guard case .status(let status) = response.outcome else { throw refusal(response.outcome) }
        return JSONResponse.make(.ok, NodeStatusJSON(status))
    }

    /// The shard map, read linearizably from group 1.
    private func shards() async throws -> Response {
        let response = await gateway.perform(.shardMap, group: ShardMap.group, token: token)
        guard case .shardMap(let map) = response.outcome else { throw refusal(response.outcome) }
        return JSONResponse.make(.ok, ShardMapJSON(map))
    }

    /// Prometheus's text exposition format; the gauges are sampled on the node's loop at each scrape.
    private func metrics() async throws -> Response {
        let host = gateway.host
        let exposition = try await host.loop.submit { host.metricsExposition() }.get()
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: exposition)))
    }

    /// The cluster's page, from what the sampler last gathered: it never waits on another member.
    private func dashboard() async throws -> Response {
        let page = await dashboardSampler.page(now: Date())
        return Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    // MARK: The runtime

    /// Writes in the group the request names, else in the owner of `key` by this node's copy of the shard map, else
    /// (leases, which name no key) in group 1. A copy of the map that is behind costs nothing but a refusal: every
    /// replica checks that it owns a key before applying a request for it (421 names the group that has it now).
    private func write(_ command: StoreCommand, ownerOf key: [UInt8]? = nil) async throws -> StoreResult {
        // No session: an HTTP client that retries a write after a timeout may apply it twice (the binary
        // client's sessions make its retries exactly-once).
        try storeResult(
            of: await gateway.perform(.write(StoreProposal(command)), group: group, ownerOf: key, token: token))
    }

    /// Reads in `group`, else as `write` chooses.
    private func read(_ range: RangeRequest, linearizable: Bool, in group: GroupID?, ownerOf key: [UInt8]? = nil)
        async throws -> RangeResponse
    {
        let result = try storeResult(
            of: await gateway.perform(
                .read(range, linearizable: linearizable), group: group, ownerOf: key, token: token))
        guard case .range(let found) = result else { throw unexpected(result) }
        return found
    }

    private func localShardMap() async throws -> ShardMap {
        let host = gateway.host
        return try await host.loop.submit { host.shardMap }.get()
    }

    /// A range over every group that owns some of it, stitched in key order (`ShardedRange`, as the Swift
    /// `ShardedClient` reads). Linearizable: by the map read linearizably before and after, so no key that moved
    /// meanwhile is missed. Serializable: by this node's copy of the map, which may be behind, as the read may be.
    private func readAcrossShards(_ range: RangeRequest, linearizable: Bool) async throws -> RangeResponse {
        try await ShardedRange.read(
            range, within: .seconds(RuntimeGateway.answerSeconds),
            readMap: { () throws(HTTPAPIError) in
                guard linearizable else {
                    do { return try await localShardMap() } catch {
                        throw HTTPAPIError(.serviceUnavailable, "\(error)")
                    }
                }
                let response = await gateway.perform(.shardMap, group: ShardMap.group, token: token)
                guard case .shardMap(let map) = response.outcome else { throw refusal(response.outcome) }
                return map
            },
            readGroup: { group, piece throws(HTTPAPIError) in
                do { return try await read(piece, linearizable: linearizable, in: group) } catch let error
                    as HTTPAPIError
                {
                    throw error
                } catch {
                    throw HTTPAPIError(.serviceUnavailable, "\(error)")
                }
            },
            failure: { problem in
                switch problem {
                case .pastRevisionAcrossGroups:
                    .badRequest(
                        "a read at a past revision cannot span groups: each group has revisions of its own; "
                            + "name one with ?group=N")
                case .keysKeptMoving:
                    HTTPAPIError(.serviceUnavailable, "keys of the range kept moving between groups; retry")
                }
            })
    }

    private func storeResult(of response: ClientResponse) throws -> StoreResult {
        guard case .result(let result) = response.outcome else { throw refusal(response.outcome) }
        if case .failed(let error) = result { throw HTTPAPIError(error) }
        return result
    }

    func refusal(_ outcome: ClientResponse.Outcome) -> HTTPAPIError {
        switch outcome {
        case .notLeader(let leader, let clientAddress):
            return .notLeader(leader, clientAddress: clientAddress)
        case .unavailable(let message):
            return HTTPAPIError(.serviceUnavailable, message)
        case .failed(let message) where message.hasPrefix("authentication"):
            return HTTPAPIError(.unauthorized, message)
        case .failed(let message) where message.hasPrefix(AccessPolicy.deniedPrefix):
            return HTTPAPIError(.forbidden, message)
        case .failed(let message):
            // The runtime's refusals arrive as text. The transient ones (a leadership transfer or membership
            // change in progress) are the ones that tell the client to retry; the rest are the request's fault.
            if GroupRefusal.saysNotHosted(message) { return HTTPAPIError(.notFound, message) }
            return HTTPAPIError(message.contains("retry") ? .serviceUnavailable : .badRequest, message)
        default:
            // An answer of the wrong kind (a result where a status was due, or a watch's): a bug, never the client's.
            return HTTPAPIError(.internalServerError, "the node answered with \(outcome); please report it")
        }
    }

    private func unexpected(_ result: StoreResult) -> HTTPAPIError {
        HTTPAPIError(.internalServerError, "the node answered with \(result); please report it")
    }

    // MARK: Parsing the request

    func decodeBody<Body: Decodable>(_: Body.Type, of request: inout Request, example: String) async throws
        -> Body
    {
        let buffer = try await request.collectBody(upTo: Self.requestBytesMax)
        do {
            return try HTTPRequestBodies.decode(Body.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw HTTPAPIError.badRequest("\(HTTPRequestBodies.explain(error)); send a JSON body like \(example)")
        }
    }

    func encoding(of request: Request, body: ByteEncoding?) throws -> ByteEncoding {
        let named = request.uri.queryParameters["encoding"]
        guard let query = ByteEncoding(naming: named) else {
            throw HTTPAPIError.badRequest("encoding '\(named ?? "")' is unknown; use utf8 (the default) or base64")
        }
        guard let body else { return query }
        guard named == nil || body == query else {
            throw HTTPAPIError.badRequest(
                "the query says encoding=\(query.rawValue) but the body says \(body.rawValue)")
        }
        return body
    }

    private func key(of request: Request, _ encoding: ByteEncoding) throws -> [UInt8] {
        let path = request.uri.path
        guard path.hasPrefix(Self.keyPathPrefix),
            let escaped = percentDecodedBytes(path.dropFirst(Self.keyPathPrefix.count))
        else {
            throw HTTPAPIError.badRequest("the key in \(path) has a malformed %-escape")
        }
        let key: [UInt8]
        switch encoding {
        case .utf8: key = escaped
        case .base64:
            guard let text = String(validating: escaped, as: UTF8.self), let decoded = encoding.bytes(from: text) else {
                throw HTTPAPIError.badRequest(
                    "the key in \(path) is not valid base64; encode it, or drop encoding=base64")
            }
            key = decoded
        }
        guard !key.isEmpty else { throw HTTPAPIError.badRequest("the key is empty; give it after /v1/kv/") }
        try checkSize(of: key, limit: StoreLimits.default.keyBytesMax, what: "key")
        return key
    }

    /// The same limits the binary protocol's decoder applies before a command reaches the log.
    private func checkSize(of bytes: [UInt8], limit: Int, what: String) throws {
        guard bytes.count <= limit else {
            throw HTTPAPIError(.contentTooLarge, "the \(what) is \(bytes.count) bytes, over the limit of \(limit)")
        }
    }

    private func revision(of request: Request) throws -> Revision? {
        guard let text = request.uri.queryParameters.get("revision") else { return nil }
        guard let revision = UInt64(text) else {
            throw HTTPAPIError.badRequest("revision '\(text)' is not a whole number >= 0 (0 or none reads the latest)")
        }
        return revision == 0 ? nil : Revision(revision)
    }

    private func serializable(_ request: Request) throws -> Bool {
        guard let text = request.uri.queryParameters.get("serializable") else { return false }
        switch text.lowercased() {
        case "", "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw HTTPAPIError.badRequest("serializable '\(text)' is not true or false")
        }
    }

    private func leaseID(_ text: String?) throws -> LeaseID {
        guard let text, let id = LeaseID(hex: text[...]) else {
            throw HTTPAPIError.badRequest("'\(text ?? "")' is not a hex lease id as POST /v1/lease returns it")
        }
        return id
    }

    private func describe(_ key: [UInt8]) -> String {
        String(validating: key, as: UTF8.self).map { "\"\($0)\"" }
            ?? "(base64) \(ByteEncoding.base64.text(from: key) ?? "")"
    }
}
