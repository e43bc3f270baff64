import NIOCore
import NIOPosix
import QuorumBalancing
import QuorumConsensus
import QuorumSharding
import QuorumStore
import QuorumWire

/// A client for a Quorum cluster: finds the leader, follows redirects, and retries safely.
///
/// Writes carry a session (a random client id and a sequence number per write), so a write retried after a
/// lost answer is applied exactly once. Reads are linearizable unless asked otherwise.
public actor QuorumClient {
    public let endpoints: [String]
    private let tls: QuorumClientTLS?
    private let credentials: QuorumCredentials?
    private let timeout: Duration
    private var connections: [String: ClientConnection] = [:]
    /// The endpoint that last answered as leader.
    private var preferred: String?
    private var nextRequestID: UInt64 = 0
    private let client: ClientID
    private var sequence: UInt64 = 0
    /// The consensus group every request names; a node hosting many routes by it.
    public let group: GroupID
    /// Serializable reads may be served by any node, so they are spread over the endpoints by least outstanding
    /// requests, with outlier ejection steering them away from nodes that fail.
    private var readBalancer: Balancer<LeastOutstandingRequestsPolicy>
    private var random = SystemRandomNumberGenerator()
    private let started = ContinuousClock.now

    /// A client of `group` (group 1, the cluster's own, unless sharded data lives elsewhere).
    /// - Parameters:
    ///   - tls: for nodes that serve TLS on their client port; nil for plain connections.
    ///   - credentials: for a cluster with authentication on: every connection authenticates with them first.
    public init(
        endpoints: [String], timeout: Duration = .seconds(5), group: GroupID = GroupID(1), tls: QuorumClientTLS? = nil,
        credentials: QuorumCredentials? = nil
    ) {
        precondition(!endpoints.isEmpty, "a client needs at least one endpoint")
        self.endpoints = endpoints
        self.tls = tls
        self.credentials = credentials
        self.group = group
        self.timeout = timeout
        self.client = ClientID(UInt64.random(in: 1...UInt64.max))
        let backends = endpoints.indices.map { Backend(id: BackendID(UInt64($0))) }
        // Distinct ids and standard settings cannot be refused.
        self.readBalancer = try! Balancer(backends: backends, policy: LeastOutstandingRequestsPolicy())
    }

    private var balancerNow: BalancerTime {
        let elapsed = started.duration(to: .now)
        return BalancerTime(
            microseconds: UInt64(elapsed.components.seconds) * 1_000_000
                + UInt64(elapsed.components.attoseconds / 1_000_000_000_000))
    }

    /// A serializable read from the node the balancer picks; any failure falls back to the normal routing.
    private func balancedRead(_ request: RangeRequest) async -> ClientResponse.Outcome? {
        guard let backend = readBalancer.pick(using: &random, now: balancerNow) else { return nil }
        let begin = balancerNow
        let endpoint = endpoints[Int(backend.rawValue)]
        let response = try? await send(.read(request, linearizable: false), to: endpoint)
        let succeeded: Bool
        if case .result? = response?.outcome { succeeded = true } else { succeeded = false }
        readBalancer.requestFinished(
            on: backend, latency: BalancerDuration(microseconds: balancerNow.rawValue - begin.rawValue),
            outcome: succeeded ? .success : .failure, now: balancerNow)
        return succeeded ? response?.outcome : nil
    }

    // MARK: Key-value operations

    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], lease: LeaseID? = nil) async throws(QuorumClientError)
        -> PutResponse
    {
        try await put(PutRequest(key: key, value: value, lease: lease))
    }

    /// A put with every option: a sequential key (`request.sequential`, the created key in the answer's
    /// `sequentialKey`), an ephemeral one (`request.lease`, typically a `Session`'s), previous value, ...
    @discardableResult
    public func put(_ request: PutRequest) async throws(QuorumClientError) -> PutResponse {
        guard case .put(let response) = try await write(.put(request)) else {
            throw .unexpectedResponse("not a put response")
        }
        return response
    }

    public func get(_ key: [UInt8], linearizable: Bool = true) async throws(QuorumClientError) -> KeyValue? {
        try await range(RangeRequest(key: key), linearizable: linearizable).kvs.first
    }

    public func range(_ request: RangeRequest, linearizable: Bool = true) async throws(QuorumClientError)
        -> RangeResponse
    {
        let outcome: ClientResponse.Outcome
        if !linearizable, let balanced = await balancedRead(request) {
            outcome = balanced
        } else {
            outcome = try await execute(.read(request, linearizable: linearizable))
        }
        guard case .result(let result) = outcome else { throw .unexpectedResponse("\(outcome)") }
        switch result {
        case .range(let response): return response
        case .failed(let error): throw .store(error)
        default: throw .unexpectedResponse("not a range response")
        }
    }

    @discardableResult
    public func delete(_ key: [UInt8], rangeEnd: [UInt8]? = nil) async throws(QuorumClientError) -> DeleteRangeResponse
    {
        guard
            case .deleteRange(let response) = try await write(
                .deleteRange(DeleteRangeRequest(key: key, rangeEnd: rangeEnd)))
        else { throw .unexpectedResponse("not a delete response") }
        return response
    }

    /// Runs an etcd-style transaction: if every comparison holds, `success`, else `failure`, all at one revision.
    public func transaction(_ request: TransactionRequest) async throws(QuorumClientError) -> TransactionResponse {
        guard case .transaction(let response) = try await write(.transaction(request)) else {
            throw .unexpectedResponse("not a transaction response")
        }
        return response
    }

    // MARK: Users and roles

    /// Changes users, roles or the authentication switch (root's alone once authentication is on); answers them all
    /// as they are after the change.
    @discardableResult
    public func changeAccess(_ change: AccessRequest) async throws(QuorumClientError) -> AccessSummary {
        let outcome = try await execute(.access(change))
        guard case .access(.summary(let summary)) = outcome else { throw .unexpectedResponse("\(outcome)") }
        return summary
    }

    /// Every user with its roles, every role with its grants, and whether authentication is on.
    public func accessSummary() async throws(QuorumClientError) -> AccessSummary {
        try await changeAccess(.summary)
    }

    /// A token for these credentials from the node at `endpoint`, for HTTP requests to it
    /// (`Authorization: Bearer TOKEN`) or a later client; it is valid on that node only, until it expires.
    public func token(user: String, password: String, at endpoint: String) async throws(QuorumClientError) -> String {
        let response = try await send(.access(.authenticate(user: user, password: password)), to: endpoint)
        switch response.outcome {
        case .access(.authenticated(_, let token)): return token
        case .failed(let message): throw .refused(message)
        default: throw .unexpectedResponse("\(response.outcome)")
        }
    }

    // MARK: Sharding

    /// The cluster's shard map, read linearizably from group 1 (ask with a client of group 1).
    public func shardMap() async throws(QuorumClientError) -> ShardMap {
        let outcome = try await execute(.shardMap)
        guard case .shardMap(let map) = outcome else { throw .unexpectedResponse("\(outcome)") }
        return map
    }

    /// Runs `body` with `client`, closing it afterwards whatever happens.
    public static func using<Value>(
        _ client: QuorumClient, _ body: (QuorumClient) async throws(QuorumClientError) -> Value
    ) async throws(QuorumClientError) -> Value {
        do {
            let value = try await body(client)
            await client.close()
            return value
        } catch {
            await client.close()
            throw error
        }
    }

    /// How many requests a second the node at `endpoint` serves for keys in `span` in this group, and the key that
    /// would split them in halves; measured only where the server runs with `--split-load` (elsewhere: none, no key).
    public func spanLoad(_ span: KeySpan, at endpoint: String) async throws(QuorumClientError) -> SpanLoad {
        let response = try await send(.spanLoad(span), to: endpoint)
        switch response.outcome {
        case .spanLoad(let load): return load
        case .failed(let message): throw .refused(message)
        default: throw .unexpectedResponse("\(response.outcome)")
        }
    }

    /// Stores `map` if the stored map is still at `map.epoch`; false if it changed since (read it again).
    public func updateShardMap(_ map: ShardMap) async throws(QuorumClientError) -> Bool {
        let outcome = try await execute(.updateShardMap(map))
        guard case .result(.transaction(let response)) = outcome else {
            if case .result(.failed(let error)) = outcome { throw .store(error) }
            throw .unexpectedResponse("\(outcome)")
        }
        return response.succeeded
    }

    /// Runs one step of a move (`StoreCommand.importKeys` and the steps after it) in this client's group.
    public func moveStep(_ command: StoreCommand) async throws(QuorumClientError) -> StoreResult {
        try await write(command)
    }

    /// One node's view of the group, asked of that node directly.
    public func status(of endpoint: String) async throws(QuorumClientError) -> NodeStatus {
        let response = try await send(.status, to: endpoint)
        guard case .status(let status) = response.outcome else { throw .unexpectedResponse("\(response.outcome)") }
        return status
    }

    /// Every group one node hosts, as that node sees each, asked of that node directly.
    public func groups(of endpoint: String) async throws(QuorumClientError) -> [GroupStatus] {
        let response = try await send(.groups, to: endpoint)
        guard case .groups(let groups) = response.outcome else { throw .unexpectedResponse("\(response.outcome)") }
        return groups
    }

    /// The group's store at a linearizable point, served by its leader for a backup (`quorum snapshot save`). The
    /// leader serialises it while it keeps serving, so the answer may take longer than other requests: it is waited
    /// for up to this client's whole timeout.
    public func backup() async throws(QuorumClientError) -> GroupBackup {
        let outcome = try await execute(.backup, attemptTimeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
        guard case .backup(let backup) = outcome else { throw .unexpectedResponse("\(outcome)") }
        guard backup.group == group else {
            throw .unexpectedResponse("a backup of \(backup.group) in answer to one of \(group)")
        }
        return backup
    }

    // MARK: Watches

    /// Streams every change to `key` (or to [key, rangeEnd)), starting at `startRevision` when given (history
    /// first, then live) or from now. Any node serves watches from what it has applied. The stream ends with
    /// `QuorumClientError.watchEnded` if the node ends the watch (too slow, compacted) and with `.connectionLost`
    /// if the node goes away; stop iterating to cancel it.
    public func watch(_ key: [UInt8], rangeEnd: [UInt8]? = nil, startRevision: Revision? = nil)
        async throws(QuorumClientError) -> AsyncThrowingStream<[WatchEvent], any Error>
    {
        var lastError = "no attempt"
        for endpoint in [preferred].compactMap({ $0 }) + endpoints {
            do {
                let connection = try await connection(to: endpoint)
                nextRequestID += 1
                let request = ClientRequest(
                    requestID: nextRequestID, group: group,
                    operation: .watch(key: key, rangeEnd: rangeEnd, startRevision: startRevision))
                return connection.openWatch(request)
            } catch {
                lastError = "\(endpoint): \(error)"
            }
        }
        throw .unreachable(endpoints: endpoints, lastError: lastError)
    }

    // MARK: Leases

    /// Grants a lease that expires `ttl` seconds after its last keep-alive, as the leader's clock tells.
    public func grantLease(ttl seconds: UInt64) async throws(QuorumClientError) -> LeaseID {
        try await grantLease(LeaseTTL(seconds: seconds))
    }

    /// Grants a lease with a TTL to the millisecond.
    public func grantLease(ttl: Duration) async throws(QuorumClientError) -> LeaseID {
        let milliseconds = ttl.components.seconds * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000
        return try await grantLease(LeaseTTL(milliseconds: UInt64(max(1, milliseconds))))
    }

    private func grantLease(_ ttl: LeaseTTL) async throws(QuorumClientError) -> LeaseID {
        let id = LeaseID(UInt64.random(in: 1...UInt64(Int64.max)))
        guard case .leaseGranted(let granted, _, _) = try await write(.leaseGrant(id: id, ttl: ttl, grantedAt: 0))
        else { throw .unexpectedResponse("not a lease grant") }
        return granted
    }

    /// Extends the lease by its TTL from now; returns the TTL. Fails if it already expired.
    @discardableResult
    public func keepAlive(_ lease: LeaseID) async throws(QuorumClientError) -> LeaseTTL {
        guard case .leaseKeptAlive(_, let ttl, _) = try await write(.leaseKeepAlive(id: lease, at: 0)) else {
            throw .unexpectedResponse("not a keep-alive")
        }
        return ttl
    }

    /// Revokes the lease and deletes every key attached to it, in one revision.
    public func revokeLease(_ lease: LeaseID) async throws(QuorumClientError) {
        guard case .leaseRevoked = try await write(.leaseRevoke(lease)) else {
            throw .unexpectedResponse("not a revoke")
        }
    }

    /// Every live lease, with its time to live and attached keys (linearizable).
    public func leases() async throws(QuorumClientError) -> [LeaseStatus] {
        let outcome = try await execute(.leases)
        guard case .leases(let leases) = outcome else { throw .unexpectedResponse("\(outcome)") }
        return leases
    }

    // MARK: Membership

    /// Adds node `node`, reachable at `address` (`HOST:PEER_PORT:CLIENT_PORT`), as a learner; unless
    /// `staysLearner`, the leader promotes it to voter once it has caught up. Start the node with `--join` first
    /// or right after. Returns the leader's view once the change is committed.
    @discardableResult
    public func addMember(_ node: NodeID, address: String, staysLearner: Bool = false) async throws(QuorumClientError)
        -> NodeStatus
    {
        try await membership(.add(node, address: address, staysLearner: staysLearner))
    }

    /// Creates an empty replica of this client's group on the node at `endpoint`; add that node to the group
    /// with `addMember` (any address: the node's is known from the cluster's group) and it catches up.
    @discardableResult
    public func createReplica(on endpoint: String) async throws(QuorumClientError) -> GroupStatus {
        let response = try await send(.createReplica, to: endpoint)
        switch response.outcome {
        case .groups(let groups) where groups.count == 1: return groups[0]
        case .failed(let message): throw .refused(message)
        default: throw .unexpectedResponse("\(response.outcome)")
        }
    }

    @discardableResult
    public func removeMember(_ node: NodeID) async throws(QuorumClientError) -> NodeStatus {
        try await membership(.remove(node))
    }

    /// Asks the leader to hand over to `node`; returns once the handover has started.
    @discardableResult
    public func transferLeadership(to node: NodeID) async throws(QuorumClientError) -> NodeStatus {
        try await membership(.transferLeadership(to: node))
    }

    private func membership(_ change: ClientRequest.MembershipRequest) async throws(QuorumClientError) -> NodeStatus {
        let outcome = try await execute(.membership(change))
        guard case .status(let status) = outcome else { throw .unexpectedResponse("\(outcome)") }
        return status
    }

    /// Endpoints with an open connection; for tests of where requests went.
    var connectedEndpoints: Set<String> { Set(connections.filter { $0.value.isActive }.keys) }

    public func close() {
        for connection in connections.values { connection.close() }
        connections.removeAll()
    }

    // MARK: Routing and retries

    private func write(_ command: StoreCommand) async throws(QuorumClientError) -> StoreResult {
        sequence += 1
        let proposal = StoreProposal(
            command, session: ClientSession(client: client, sequence: SequenceNumber(sequence)))
        let outcome = try await execute(.write(proposal))
        guard case .result(let result) = outcome else { throw .unexpectedResponse("\(outcome)") }
        if case .failed(let error) = result { throw .store(error) }
        return result
    }

    /// Sends to the leader (or whoever may know it) until an answer that is not a redirect, or the deadline.
    private func execute(
        _ operation: ClientRequest.Operation, attemptTimeout: TimeAmount = .seconds(2)
    ) async throws(QuorumClientError) -> ClientResponse.Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var candidates = endpoints
        var lastError = "no attempt"
        var attempt = 0
        while clock.now < deadline {
            if Task.isCancelled { throw .cancelled }
            let endpoint = preferred ?? candidates[attempt % candidates.count]
            attempt += 1
            let response: ClientResponse
            do throws(QuorumClientError) {
                response = try await send(operation, to: endpoint, timeout: attemptTimeout)
            } catch {
                switch error {
                case .refused, .badEndpoint, .cancelled: throw error
                case .unreachable(_, let reason): lastError = "\(endpoint): \(reason)"
                default: lastError = "\(endpoint): \(error)"
                }
                preferred = nil
                connections.removeValue(forKey: endpoint)?.close()
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            switch response.outcome {
            case .notLeader(_, let leaderAddress):
                preferred = leaderAddress.isEmpty ? nil : leaderAddress
                if !leaderAddress.isEmpty && !candidates.contains(leaderAddress) { candidates.append(leaderAddress) }
                lastError = "\(endpoint) is not the leader"
                if leaderAddress.isEmpty { try? await Task.sleep(for: .milliseconds(100)) }
            case .unavailable(let message):
                lastError = message
                try? await Task.sleep(for: .milliseconds(50))
            case .failed(let message) where GroupRefusal.saysNotHosted(message) && attempt < candidates.count:
                // The group's replica is elsewhere (a new node, or moved away by the placement driver): ask the
                // other nodes before giving up.
                preferred = nil
                lastError = "\(endpoint): \(message)"
            case .failed(let message):
                throw .refused(message)
            case .result, .status, .leases, .groups, .shardMap, .backup, .access, .spanLoad:
                preferred = endpoint
                return response.outcome
            case .watchEvents, .watchEnded:
                throw .unexpectedResponse("a watch answer to a request")
            }
        }
        throw .unreachable(endpoints: candidates, lastError: lastError)
    }

    private func send(
        _ operation: ClientRequest.Operation, to endpoint: String, timeout: TimeAmount = .seconds(2)
    ) async throws(QuorumClientError) -> ClientResponse {
        nextRequestID += 1
        let request = ClientRequest(requestID: nextRequestID, group: group, operation: operation)
        do {
            let connection = try await connection(to: endpoint)
            return try await connection.send(request, timeout: timeout)
        } catch let error as QuorumClientError {
            throw error
        } catch {
            throw .unreachable(endpoints: [endpoint], lastError: "\(error)")
        }
    }

    /// Authenticates a new connection with the client's credentials, before anything else is sent on it.
    private func authenticate(_ connection: ClientConnection) async throws {
        guard let credentials else { return }
        nextRequestID += 1
        let request = ClientRequest(
            requestID: nextRequestID, group: group, operation: .access(credentials.authentication))
        let response = try await connection.send(request, timeout: .seconds(5))
        switch response.outcome {
        case .access(.authenticated): return
        case .failed(let message): throw QuorumClientError.refused(message)
        default: throw QuorumClientError.unexpectedResponse("\(response.outcome)")
        }
    }

    /// Connections being opened, so that concurrent calls (the actor is reentrant) share one instead of racing.
    private var connecting: [String: Task<ClientConnection, any Error>] = [:]

    private func connection(to endpoint: String) async throws -> ClientConnection {
        if let existing = connections[endpoint], existing.isActive { return existing }
        if let pending = connecting[endpoint] { return try await pending.value }
        let opening = Task {
            let connection = try await ClientConnection.connect(
                to: endpoint, group: MultiThreadedEventLoopGroup.singleton, frameBytesMax: ClientResponse.frameBytesMax,
                tls: tls)
            do {
                try await authenticate(connection)
            } catch {
                connection.close()
                throw error
            }
            return connection
        }
        connecting[endpoint] = opening
        defer { connecting[endpoint] = nil }
        let connection = try await opening.value
        connections[endpoint] = connection
        return connection
    }
}
