import HummingbirdBcrypt
import NIOCore
import NIOPosix
import QuorumConsensus
import QuorumStore
import QuorumWire

/// Authentication and permissions for every front end (`AccessPolicy`, kept by `AccessBook`): the client port and
/// HTTP pass each request through `handle(_:by:respond:)`, the Redis port asks `accessPolicy` per command. Users and
/// roles change through group 1's log, built by `AccessPolicy.transaction(for:passwordHash:)`.
extension NodeHost {
    var accessPolicy: AccessPolicy { accessBook.policy }

    /// Serves a client's request if the user the connection authenticated as (nil: nobody) may make it.
    func handle(_ request: ClientRequest, by user: String?, respond: @escaping GroupRuntime.Responder) {
        if let refusal = accessRefusal(of: request, by: user) {
            return respond(ClientResponse(requestID: request.requestID, outcome: refusal))
        }
        handle(request, respond: respond)
    }

    static let catchingUp =
        "this node is catching up with the cluster's users and roles (after a restart or a join); retry"

    /// Why `user` (nil: nobody) may not make `request` (counted and logged), or that this node cannot tell yet; nil
    /// when it may.
    func accessRefusal(of request: ClientRequest, by user: String?) -> ClientResponse.Outcome? {
        loop.preconditionInEventLoop()
        switch request.operation {
        case .status, .groups: break
        default: if !accessReady { return .unavailable(Self.catchingUp) }
        }
        let refusal = accessPolicy.refusal(of: request.operation, by: user) { id in
            self.group(request.group)?.leaseKeys(id) ?? []
        }
        guard let refusal else { return nil }
        noteDenied(refusal)
        return .failed(refusal)
    }

    /// Whether this node's users and roles are at least as new as those it checked before it (re)started: until
    /// then a restarted node would judge by an older copy, or an empty one (authentication off) after a join.
    var accessReady: Bool {
        if !accessCaughtUp, group(Self.clusterGroup)?.hasCaughtUp == true { accessCaughtUp = true }
        return accessCaughtUp
    }

    /// Counts and logs a refused request; the message names the user and the key, never a password or token.
    func noteDenied(_ refusal: String) {
        metrics.accessDenied.increment()
        logger.notice("access denied", metadata: ["reason": "\(refusal)"])
    }

    func handleAccess(_ request: AccessRequest, requestID: UInt64, respond: @escaping GroupRuntime.Responder) {
        loop.preconditionInEventLoop()
        let answer: @Sendable (ClientResponse.Outcome) -> Void = {
            respond(ClientResponse(requestID: requestID, outcome: $0))
        }
        switch request {
        case .authenticate(let user, let password):
            authenticate(user: user, password: password) { result in
                switch result {
                case .success(let token): answer(.access(.authenticated(user: user, token: token)))
                case .failure(let refusal) where refusal.message == Self.catchingUp:
                    answer(.unavailable(refusal.message))
                case .failure(let refusal): answer(.failed(refusal.message))
                }
            }
        case .authenticateWithToken(let token):
            switch user(forToken: token) {
            case .success(let user): answer(.access(.authenticated(user: user, token: token)))
            case .failure(let refusal): answer(.failed(refusal.message))
            }
        case .summary:
            answer(.access(.summary(accessPolicy.summary)))
        case .addUser(_, let password), .changePassword(_, let password):
            // bcrypt is slow by design: hash off the loop, then build the change from the records as they are then.
            let cost = configuration.bcryptCost
            NIOThreadPool.singleton.runIfActive(eventLoop: loop) { Bcrypt.hash(password, cost: cost) }
                .whenComplete { hashed in
                    switch hashed {
                    case .success(let hash):
                        self.changeAccess(request, passwordHash: hash, requestID: requestID, answer)
                    case .failure(let error): answer(.unavailable("could not hash the password: \(error)"))
                    }
                }
        default:
            changeAccess(request, passwordHash: nil, requestID: requestID, answer)
        }
    }

    /// Checks `password` off the loop (bcrypt takes tens of milliseconds by design), then issues a token on it.
    func authenticate(
        user: String, password: String, _ done: @escaping @Sendable (Result<String, AccessRefusal>) -> Void
    ) {
        loop.preconditionInEventLoop()
        let wrong = AccessRefusal("authentication failed: wrong user name or password")
        guard accessReady else { return done(.failure(AccessRefusal(Self.catchingUp))) }
        let metrics = metrics
        let known = accessPolicy.users[user]?.passwordHash
        // An unknown user's password is checked too, against a decoy, so that timing does not tell who exists.
        let decoy = decoyPasswordHash
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) {
            metrics.passwordChecks.increment()
            return Bcrypt.verify(password, hash: known ?? decoy.value())
        }.whenComplete { verified in
            // The password may have changed while it was checked: a token carries the hash it was checked against.
            guard let hash = known, case .success(true) = verified, self.accessPolicy.users[user]?.passwordHash == hash
            else {
                self.noteFailedAuthentication(user: user)
                return done(.failure(wrong))
            }
            done(.success(self.accessTokens.issue(to: user, passwordHash: hash, now: .now())))
        }
    }

    func user(forToken token: String) -> Result<String, AccessRefusal> {
        loop.preconditionInEventLoop()
        let found = accessTokens.user(for: token, now: .now(), policy: accessPolicy)
        if case .failure = found {
            metrics.authenticationsFailed.increment()
            logger.notice("authentication failed: a bad or expired token")
        }
        return found
    }

    private func noteFailedAuthentication(user: String) {
        metrics.authenticationsFailed.increment()
        logger.notice("authentication failed", metadata: ["user": "\(user)"])
    }

    private func changeAccess(
        _ request: AccessRequest, passwordHash: String?, requestID: UInt64,
        _ answer: @escaping @Sendable (ClientResponse.Outcome) -> Void
    ) {
        loop.preconditionInEventLoop()
        guard let cluster = group(Self.clusterGroup) else {
            return answer(.failed(GroupRefusal.notHosted(Self.clusterGroup) + ", where users and roles live"))
        }
        let transaction: TransactionRequest
        do throws(AccessPolicy.ChangeRefused) {
            transaction = try accessPolicy.transaction(for: request, passwordHash: passwordHash)
        } catch {
            return answer(.failed(error.message))
        }
        cluster.proposeReserved(transaction, requestID: requestID) { response in
            switch response.outcome {
            case .result(.transaction(let result)) where result.succeeded:
                // A write is answered once it applied here, so the summary already shows the change.
                answer(.access(.summary(self.accessPolicy.summary)))
            case .result(.transaction):
                answer(.failed("users or roles changed at the same time; try again"))
            default:
                answer(response.outcome)
            }
        }
    }
}
