import ArgumentParser
import Foundation
import Logging
import QuorumConsensus
import QuorumServer
import QuorumStorage

/// Runs one node of a cluster until SIGTERM or SIGINT, which shut it down gracefully (exit status 0), or until it is
/// removed from the cluster (status 3). Storage is crash-safe, so even SIGKILL loses nothing that was acknowledged.
struct Server: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Quorum node.",
        discussion: """
            Every member is started with the same --cluster list. Example, three nodes on one machine:
              quorum server --id 1 --cluster 1=127.0.0.1:7101:7201,2=127.0.0.1:7102:7202,3=127.0.0.1:7103:7203 \\
                --data-dir /tmp/q1
            Clients connect to the third number of each member (the client port).

            Each setting can also come from the environment (QUORUM_ID, QUORUM_CLUSTER, QUORUM_DATA_DIR,
            QUORUM_HTTP_PORT, QUORUM_REDIS_PORT, ...) or from a JSON file given with --config, e.g.
              {"id": 1, "cluster": "1=127.0.0.1:7101:7201,...", "dataDir": "/var/lib/quorum", "httpPort": 7301}
            A flag wins over the environment, which wins over the file.

            SIGTERM or SIGINT shuts the node down gracefully: it stops accepting clients, hands over the leadership \
            of the groups it leads, answers what it took, flushes its log and exits with status 0. It exits with 2 \
            when it cannot start and with 3 when it learns it was removed from the cluster. docs/operations.md says \
            how to run a cluster.
            """
    )

    @Option(
        help: """
            A JSON file with any of: id, cluster, dataDir, listenHost, join, consensus, logFormat, logLevel, \
            tickMilliseconds, historyRevisions, httpPort, redisPort, maxRequestBytes, snapshotEntries, \
            peerFrameBytes, groups, splitKeys, splitLoad, maxConnections, maxWatches, maxWatchesPerConnection, \
            redisIdleTimeout, busyReplyThreshold, placement, placementDeadAfter, maxPeerStrangers, peerHelloTimeout, maxUnfinishedRequestBytes, \
            authTokenTtl, bcryptCost, peerCert, peerKey, peerCA, tlsCert, tlsKey.
            """)
    var config: String?

    @Option(help: "This node's id, as listed in --cluster (env QUORUM_ID).")
    var id: UInt64?

    @Option(help: "Every founding member: ID=HOST:PEER_PORT:CLIENT_PORT, comma-separated (env QUORUM_CLUSTER).")
    var cluster: String?

    @Option(help: "Where this node keeps its log and snapshots; one process per directory (env QUORUM_DATA_DIR).")
    var dataDir: String?

    @Flag(help: "Join a running cluster (after `quorum cluster add`) instead of founding one (env QUORUM_JOIN=1).")
    var join = false

    @Option(
        help: """
            Bind the node's ports on this address (0.0.0.0: every interface) instead of the host its --cluster entry \
            gives, which is what the other members and clients are told to use (env QUORUM_LISTEN_HOST).
            """)
    var listenHost: String?

    @Option(help: ConsensusKind.help)
    var consensus: ConsensusKind?

    @Option(help: "Log lines as text or json, one object per line (default text; env QUORUM_LOG_FORMAT).")
    var logFormat: LogSettings.Format?

    @Option(
        help: """
            Log this level and above: trace, debug, info, notice, warning, error, critical (default info; env \
            QUORUM_LOG_LEVEL). Change it while the node runs with PUT /v1/log-level on the HTTP port.
            """)
    var logLevel: Logger.Level?

    @Option(help: "Milliseconds per engine tick; elections take 10–20 ticks (default 50).")
    var tickMilliseconds: Int64?

    @Option(help: "Revisions of history to keep; older ones are compacted automatically, 0 keeps all (default 100000).")
    var historyRevisions: UInt64?

    @Option(help: "Serve the HTTP/JSON API (docs/http.md) on this port of this member's host (env QUORUM_HTTP_PORT).")
    var httpPort: Int?

    @Option(help: "Serve Redis clients (docs/redis.md) on this port of this member's host (env QUORUM_REDIS_PORT).")
    var redisPort: Int?

    @Option(help: "Refuse writes larger than this many bytes (default 1572864, etcd's 1.5 MiB).")
    var maxRequestBytes: Int?

    @Option(help: "Snapshot the state machine every this many entries (default 100000).")
    var snapshotEntries: Int?

    @Option(
        help: """
            Found consensus groups 1...N in a new data directory, each replicated on every founding member \
            (default 1; env QUORUM_GROUPS). A node's groups are recorded with its data.
            """)
    var groups: Int?

    @Option(
        help:
            "Largest peer frame in bytes, the same on every member; larger messages travel in parts (default 16777216)."
    )
    var peerFrameBytes: Int?

    @Option(
        help: """
            Split a span of a range-sharded keyspace in two once it holds more than this many keys, and merge two \
            neighbouring spans that together hold at most a quarter of it (default: only when an operator splits \
            or merges; env QUORUM_SPLIT_KEYS).
            """)
    var splitKeys: Int?

    @Option(
        help: """
            Split a span of a range-sharded keyspace whose group's leader serves it more than this many requests a \
            second, where its requests' keys divide in halves (default: not by load; env QUORUM_SPLIT_LOAD).
            """)
    var splitLoad: Int?

    @Option(
        help: "Connections the client port and the Redis port each accept at once; more are refused (default 10000).")
    var maxConnections: Int?

    @Option(help: "Watches one group's replica on a node serves at once; more are refused (default 100000).")
    var maxWatches: Int?

    @Option(help: "Watches one connection may hold in one group on a node; more are refused (default 1000).")
    var maxWatchesPerConnection: Int?

    @Option(help: "Close a Redis connection that sends nothing for this many seconds (default: never, as Redis).")
    var redisIdleTimeout: Int?

    @Option(
        help: "A Lua script running longer than this many milliseconds makes new scripts answer BUSY (default 5000).")
    var busyReplyThreshold: Int?

    @Flag(
        help: """
            Balance the replicas and leaderships of groups 2 and up over the nodes, and re-replicate those of a node \
            that stays unreachable (docs/sharding.md).
            """)
    var placement = false

    @Option(
        help:
            "With --placement: seconds a node must stay unreachable before its replicas are made elsewhere (default 300)."
    )
    var placementDeadAfter: Int?

    @Option(help: "Peer connections waiting for their hello at once; more are refused (default 256).")
    var maxPeerStrangers: Int?

    @Option(help: "Close a peer connection that says no accepted hello within this many seconds (default 10).")
    var peerHelloTimeout: Int?

    @Option(
        help: """
            Bytes of client-port requests begun and not finished, over all connections; a request that would pass it \
            closes its connection (default 268435456).
            """)
    var maxUnfinishedRequestBytes: Int?

    @Option(help: "Seconds a token from authenticating stays valid on this node (default 300, as etcd's).")
    var authTokenTtl: Int?

    @Option(help: "bcrypt's cost for new passwords, 4–31 (default 10, as etcd's; each step doubles the work).")
    var bcryptCost: UInt8?

    @Option(
        help: """
            This node's peer certificate (PEM), naming it as node-<id>.quorum; with --peer-key and --peer-ca, peers \
            authenticate each other with mutual TLS (env QUORUM_PEER_CERT; docs/security.md).
            """)
    var peerCert: String?

    @Option(help: "The private key of --peer-cert (PEM; env QUORUM_PEER_KEY).")
    var peerKey: String?

    @Option(help: "The certificate authority that signs every member's peer certificate (PEM; env QUORUM_PEER_CA).")
    var peerCa: String?

    @Option(
        help: """
            A certificate (PEM) for the names clients reach this node by; with --tls-key, the client, HTTP and Redis \
            ports speak only TLS (env QUORUM_TLS_CERT; docs/security.md).
            """)
    var tlsCert: String?

    @Option(help: "The private key of --tls-cert (PEM; env QUORUM_TLS_KEY).")
    var tlsKey: String?

    /// The settings a config file may hold; every field is optional.
    struct FileSettings: Decodable {
        var id: UInt64?
        var cluster: String?
        var dataDir: String?
        var join: Bool?
        var listenHost: String?
        var consensus: String?
        var logFormat: String?
        var logLevel: String?
        var tickMilliseconds: Int64?
        var historyRevisions: UInt64?
        var httpPort: Int?
        var redisPort: Int?
        var maxRequestBytes: Int?
        var snapshotEntries: Int?
        var peerFrameBytes: Int?
        var groups: Int?
        var splitKeys: Int?
        var splitLoad: Int?
        var maxConnections: Int?
        var maxWatches: Int?
        var maxWatchesPerConnection: Int?
        var redisIdleTimeout: Int?
        var busyReplyThreshold: Int?
        var placement: Bool?
        var placementDeadAfter: Int?
        var maxPeerStrangers: Int?
        var peerHelloTimeout: Int?
        var maxUnfinishedRequestBytes: Int?
        var authTokenTtl: Int?
        var bcryptCost: UInt8?
        var peerCert: String?
        var peerKey: String?
        var peerCA: String?
        var tlsCert: String?
        var tlsKey: String?
    }

    func run() throws {
        let file = try config.map(Self.readSettings) ?? FileSettings()
        func setting<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, _ fromFile: T?) throws -> T? {
            if let flag { return flag }
            if let text = environment(variable) {
                guard let value = T(text) else { throw ValidationError("\(variable)=\(text) is not valid") }
                return value
            }
            return fromFile
        }
        let logSettings = try Self.logSettings(
            format: logFormat?.rawValue ?? environment("QUORUM_LOG_FORMAT") ?? file.logFormat,
            level: logLevel?.rawValue ?? environment("QUORUM_LOG_LEVEL") ?? file.logLevel)
        logSettings.bootstrap()
        let say = Self.announcer(logSettings)
        guard let id = try setting(id, "QUORUM_ID", file.id) else {
            throw ValidationError("give this node's id with --id, QUORUM_ID or the config file")
        }
        guard let list = try setting(cluster, "QUORUM_CLUSTER", file.cluster) else {
            throw ValidationError("give the members with --cluster, QUORUM_CLUSTER or the config file")
        }
        guard let dataDir = try setting(dataDir, "QUORUM_DATA_DIR", file.dataDir) else {
            throw ValidationError("give the data directory with --data-dir, QUORUM_DATA_DIR or the config file")
        }
        let members = try Self.members(from: list, including: id)
        var configuration = ServerConfiguration(node: NodeID(id), members: members, dataDirectory: dataDir)
        configuration.tickMilliseconds =
            try setting(tickMilliseconds, "QUORUM_TICK_MILLISECONDS", file.tickMilliseconds) ?? 50
        let joinFromEnvironment = environment("QUORUM_JOIN").map { ["1", "true", "yes"].contains($0.lowercased()) }
        configuration.joining = join || (joinFromEnvironment ?? file.join ?? false)
        configuration.listenHost = try setting(listenHost, "QUORUM_LISTEN_HOST", file.listenHost)
        if let name = consensus?.rawValue ?? environment("QUORUM_CONSENSUS") ?? file.consensus {
            guard let kind = ConsensusKind(rawValue: name) else {
                throw ValidationError("unknown consensus engine '\(name)'; choose raft or paxos")
            }
            configuration.consensus = kind
        }
        configuration.historyRevisionsRetained =
            try setting(historyRevisions, "QUORUM_HISTORY_REVISIONS", file.historyRevisions) ?? 100_000
        let httpPort = try setting(httpPort, "QUORUM_HTTP_PORT", file.httpPort)
        if let httpPort, !(1...65535).contains(httpPort) { throw ValidationError("the HTTP port must be 1–65535") }
        guard configuration.tickMilliseconds > 0 else { throw ValidationError("the tick must be at least 1 ms") }
        configuration.httpPort = httpPort
        let redisPort = try setting(redisPort, "QUORUM_REDIS_PORT", file.redisPort)
        if let redisPort, !(1...65535).contains(redisPort) { throw ValidationError("the Redis port must be 1–65535") }
        configuration.redisPort = redisPort
        configuration.requestBytesMax =
            try setting(maxRequestBytes, "QUORUM_MAX_REQUEST_BYTES", file.maxRequestBytes)
            ?? configuration.requestBytesMax
        guard configuration.requestBytesMax > 0 else { throw ValidationError("the request limit must be positive") }
        configuration.snapshotIntervalEntries =
            try setting(snapshotEntries, "QUORUM_SNAPSHOT_ENTRIES", file.snapshotEntries)
            ?? configuration.snapshotIntervalEntries
        guard configuration.snapshotIntervalEntries > 0 else {
            throw ValidationError("the snapshot interval must be positive")
        }
        configuration.peerFrameBytesMax =
            try setting(peerFrameBytes, "QUORUM_PEER_FRAME_BYTES", file.peerFrameBytes)
            ?? configuration.peerFrameBytesMax
        guard configuration.peerFrameBytesMax >= 1024 else {
            throw ValidationError("the peer frame limit must be at least 1024 bytes")
        }
        configuration.connectionsMax =
            try setting(maxConnections, "QUORUM_MAX_CONNECTIONS", file.maxConnections) ?? configuration.connectionsMax
        guard configuration.connectionsMax > 0 else { throw ValidationError("--max-connections must be positive") }
        configuration.watchesMax =
            try setting(maxWatches, "QUORUM_MAX_WATCHES", file.maxWatches) ?? configuration.watchesMax
        guard configuration.watchesMax > 0 else { throw ValidationError("--max-watches must be positive") }
        configuration.watchesPerConnectionMax =
            try setting(maxWatchesPerConnection, "QUORUM_MAX_WATCHES_PER_CONNECTION", file.maxWatchesPerConnection)
            ?? configuration.watchesPerConnectionMax
        guard configuration.watchesPerConnectionMax > 0 else {
            throw ValidationError("--max-watches-per-connection must be positive")
        }
        if let seconds = try setting(redisIdleTimeout, "QUORUM_REDIS_IDLE_TIMEOUT", file.redisIdleTimeout) {
            guard seconds > 0 else {
                throw ValidationError("--redis-idle-timeout must be a positive number of seconds")
            }
            configuration.redisIdleTimeout = .seconds(seconds)
        }
        if let milliseconds = try setting(busyReplyThreshold, "QUORUM_BUSY_REPLY_THRESHOLD", file.busyReplyThreshold) {
            guard milliseconds > 0 else {
                throw ValidationError("--busy-reply-threshold must be a positive number of milliseconds")
            }
            configuration.scriptBusyThreshold = .milliseconds(milliseconds)
        }
        let placed =
            placement || (environment("QUORUM_PLACEMENT").map { $0 == "1" || $0 == "true" } ?? file.placement ?? false)
        let deadAfter = try setting(placementDeadAfter, "QUORUM_PLACEMENT_DEAD_AFTER", file.placementDeadAfter)
        if let deadAfter, deadAfter <= 0 {
            throw ValidationError("--placement-dead-after must be a positive number of seconds")
        }
        if deadAfter != nil, !placed { throw ValidationError("--placement-dead-after needs --placement") }
        if placed { configuration.placementDeadAfter = .seconds(deadAfter ?? 300) }
        if let count = try setting(maxPeerStrangers, "QUORUM_MAX_PEER_STRANGERS", file.maxPeerStrangers) {
            guard count > 0 else { throw ValidationError("--max-peer-strangers must be positive") }
            configuration.peerStrangersMax = count
        }
        if let seconds = try setting(peerHelloTimeout, "QUORUM_PEER_HELLO_TIMEOUT", file.peerHelloTimeout) {
            guard seconds > 0 else {
                throw ValidationError("--peer-hello-timeout must be a positive number of seconds")
            }
            configuration.peerHelloTimeout = .seconds(seconds)
        }
        if let bytes = try setting(
            maxUnfinishedRequestBytes, "QUORUM_MAX_UNFINISHED_REQUEST_BYTES", file.maxUnfinishedRequestBytes)
        {
            guard bytes >= configuration.requestBytesMax else {
                throw ValidationError("--max-unfinished-request-bytes must be at least --max-request-bytes")
            }
            configuration.unfinishedRequestBytesMax = bytes
        }
        if let seconds = try setting(authTokenTtl, "QUORUM_AUTH_TOKEN_TTL", file.authTokenTtl) {
            guard seconds > 0 else { throw ValidationError("--auth-token-ttl must be a positive number of seconds") }
            configuration.authTokenTTL = .seconds(seconds)
        }
        if let cost = try setting(bcryptCost, "QUORUM_BCRYPT_COST", file.bcryptCost) {
            guard ServerConfiguration.bcryptCosts.contains(cost) else {
                throw ValidationError("--bcrypt-cost must be 4–31")
            }
            configuration.bcryptCost = cost
        }
        configuration.splitKeysMax = try setting(splitKeys, "QUORUM_SPLIT_KEYS", file.splitKeys)
        if let keys = configuration.splitKeysMax, keys < 2 { throw ValidationError("--split-keys must be at least 2") }
        configuration.splitLoadMax = try setting(splitLoad, "QUORUM_SPLIT_LOAD", file.splitLoad)
        if let load = configuration.splitLoadMax, load < 1 { throw ValidationError("--split-load must be at least 1") }
        configuration.bootstrapGroups = try setting(groups, "QUORUM_GROUPS", file.groups)
        if let groups = configuration.bootstrapGroups, !(1...ServerConfiguration.bootstrapGroupsMax).contains(groups) {
            throw ValidationError("--groups must be 1–100000")
        }
        let peerFiles = [
            try setting(peerCert, "QUORUM_PEER_CERT", file.peerCert),
            try setting(peerKey, "QUORUM_PEER_KEY", file.peerKey),
            try setting(peerCa, "QUORUM_PEER_CA", file.peerCA),
        ]
        configuration.peerTLS = try Self.tlsFiles(peerFiles, flags: "--peer-cert, --peer-key and --peer-ca")
        let clientFiles = [
            try setting(tlsCert, "QUORUM_TLS_CERT", file.tlsCert), try setting(tlsKey, "QUORUM_TLS_KEY", file.tlsKey),
        ]
        configuration.clientTLS = try Self.tlsFiles(clientFiles, flags: "--tls-cert and --tls-key")
        let server: QuorumNodeServer
        do {
            let parent = parentDirectory(of: dataDir)
            if !parent.isEmpty {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            server = try QuorumNodeServer(configuration: configuration)
        } catch {
            say("quorum server: \(error)")
            throw ExitCode(2)
        }
        say(
            "node \(id) serving clients on \(configuration.address.clientAddress), peers on port \(configuration.address.peerPort)"
        )
        if let httpPort { say("node \(id) serving HTTP on http://\(configuration.address.host):\(httpPort)") }
        if let redisPort { say("node \(id) serving Redis on \(configuration.address.host):\(redisPort)") }
        if configuration.peerTLS == nil {
            say(
                "WARNING: peers are unauthenticated: anyone who reaches port \(configuration.address.peerPort) can "
                    + "speak for a member. Give --peer-cert, --peer-key and --peer-ca (docs/security.md).")
        }
        let stopping = Self.stopOnSignals(server)
        try server.wait()
        if let reason = server.removalReason {
            say("quorum server: \(reason)")
            try server.shutdown()
            throw ExitCode(3)
        }
        say("node \(id) shutting down (\(stopping.signalName ?? "stopped"))")
        try server.shutDownGracefully { say("node \(id) \($0)") }
        say("node \(id) stopped")
    }

    static func logSettings(format: String?, level: String?) throws -> LogSettings {
        guard let format = LogSettings.Format(rawValue: format ?? "text") else {
            throw ValidationError("unknown log format '\(format ?? "")'; choose text or json")
        }
        guard let level = Logger.Level(rawValue: level ?? "info") else {
            throw ValidationError("unknown log level '\(level ?? "")'; choose one of \(Logger.Level.names)")
        }
        return LogSettings(format: format, level: level)
    }

    /// TLS needs every one of its files (certificate, key, and the authority for peers) or none.
    static func tlsFiles(_ paths: [String?], flags: String) throws -> TLSFiles? {
        let given = paths.compactMap { $0 }
        if given.isEmpty { return nil }
        guard given.count == paths.count else { throw ValidationError("TLS needs all of \(flags), or none") }
        return TLSFiles(
            certificate: given[0], privateKey: given[1], certificateAuthority: given.count > 2 ? given[2] : nil)
    }

    /// How the command tells its operator what it does: plain lines on standard output, or, with JSON logs, log
    /// lines like every other, so that the whole output stays machine-readable.
    static func announcer(_ settings: LogSettings) -> @Sendable (String) -> Void {
        guard settings.format == .json else { return say }
        let logger = Logger(label: "quorum.server")
        return { logger.notice("\($0)") }
    }

    /// SIGTERM and SIGINT stop the server from accepting clients, which ends its `wait()` and starts the graceful
    /// shutdown; a second one ends the process at once, as the default action would have.
    static func stopOnSignals(_ server: QuorumNodeServer) -> SignalStop {
        let stop = SignalStop()
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                guard stop.first(signalNumber) else { Foundation.exit(128 + signalNumber) }
                server.stopAccepting()
            }
            source.resume()
            stop.sources.append(source)
        }
        return stop
    }

    /// Which signal asked the server to stop, and the sources listening for them (kept alive while it runs).
    final class SignalStop: @unchecked Sendable {
        // @unchecked Sendable: `sources` is set before any handler runs and only read after; `received` is locked.
        var sources: [any DispatchSourceSignal] = []
        private let received = NSLock()
        private var signalNumber: Int32?

        /// Records `signalNumber`; false if a signal came before.
        func first(_ signalNumber: Int32) -> Bool {
            received.withLock {
                guard self.signalNumber == nil else { return false }
                self.signalNumber = signalNumber
                return true
            }
        }

        var signalName: String? {
            received.withLock {
                signalNumber.map { $0 == SIGINT ? "SIGINT" : $0 == SIGTERM ? "SIGTERM" : "signal \($0)" }
            }
        }
    }

    /// The members a `--cluster` list names, which must include node `id`.
    static func members(from list: String, including id: UInt64) throws -> [NodeID: MemberAddress] {
        let members: [NodeID: MemberAddress]
        do {
            members = try ServerConfiguration.parseMembers(list)
        } catch {
            throw ValidationError(error.description)
        }
        guard members[NodeID(id)] != nil else { throw ValidationError("node id \(id) is not in the cluster list") }
        return members
    }

    static func readSettings(from path: String) throws -> FileSettings {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the config file \(path)")
        }
        do {
            return try JSONDecoder().decode(FileSettings.self, from: data)
        } catch {
            throw ValidationError("config file \(path) is not valid: \(error)")
        }
    }
}

/// Writes a line to standard output at once. `print` buffers when the output is not a terminal, so a node's lines,
/// redirected to a log file or journald, appeared only when it exited.
@Sendable private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

extension LogSettings.Format: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
