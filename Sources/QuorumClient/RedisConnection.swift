import NIOCore
import NIOPosix
import QuorumWire

/// One connection to one Redis server (or anything speaking RESP). Answers are matched to commands in the order they
/// were sent, which is how RESP works; so a command that times out or is cancelled closes the connection.
///
/// Commands from concurrent callers may share a connection, but `WATCH`/`MULTI` state belongs to the connection: a
/// transaction needs a connection of its own for its duration (`Redlock` checks one out of a pool).
public final class RedisConnection: Sendable {
    public let endpoint: String
    private let channel: any Channel
    private let replies: RedisReplyHandler
    private let commandTimeout: TimeAmount

    private init(endpoint: String, channel: any Channel, replies: RedisReplyHandler, commandTimeout: TimeAmount) {
        self.endpoint = endpoint
        self.channel = channel
        self.replies = replies
        self.commandTimeout = commandTimeout
    }

    /// Connects to `endpoint` ("host:port").
    public static func connect(
        to endpoint: String, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(RedisError) -> RedisConnection {
        guard let separator = endpoint.lastIndex(of: ":"),
            let port = Int(endpoint[endpoint.index(after: separator)...]),
            (1...65535).contains(port)
        else { throw .badEndpoint(endpoint) }
        let host = String(endpoint[..<separator])
        let replies = RedisReplyHandler(endpoint: endpoint)
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(TimeAmount(connectTimeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(RESPDecoder()), MessageToByteHandler(RESPEncoder()), replies)
                    }
                }
                .connect(host: host, port: port).get()
            return RedisConnection(
                endpoint: endpoint, channel: channel, replies: replies, commandTimeout: TimeAmount(commandTimeout))
        } catch let error as NIOConnectionError where !error.connectionErrors.isEmpty {
            // One failure per address tried; the bare errors say it best ("Connection refused (errno: 111)").
            throw .connectFailed(
                endpoint: endpoint, reason: error.connectionErrors.map { "\($0.error)" }.joined(separator: "; "))
        } catch {
            throw .connectFailed(endpoint: endpoint, reason: "\(error)")
        }
    }

    /// Sends one command and returns the server's answer; an error reply is returned as `.error`, not thrown.
    public func send(_ command: [String]) async throws(RedisError) -> RESPValue {
        let answers = try await pipeline([command])
        guard let answer = answers.first else {
            throw .unexpectedReply(endpoint: endpoint, command: Self.name(of: command), reply: "nothing")
        }
        return answer
    }

    /// Sends several commands in one write and returns their answers in order; the timeout covers them all.
    public func pipeline(_ commands: [[String]]) async throws(RedisError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let channel = channel
        let promises = commands.map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        let replies = replies
        let timeout = commandTimeout
        let timeoutError = RedisError.timedOut(
            endpoint: endpoint, command: commands.map(Self.name(of:)).joined(separator: ", "))
        channel.eventLoop.execute {
            guard replies.expect(promises, channel: channel) else { return }
            for command in commands { channel.write(RESPValue.command(command), promise: nil) }
            channel.flush()
            // The last answer comes last; once it is in, all are.
            let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                replies.abandon(channel: channel, with: timeoutError)
            }
            promises.last?.futureResult.whenComplete { _ in deadline.cancel() }
        }
        do {
            return try await withTaskCancellationHandler {
                var answers: [RESPValue] = []
                for promise in promises { answers.append(try await promise.futureResult.get()) }
                return answers
            } onCancel: {
                channel.eventLoop.execute { replies.abandon(channel: channel, with: .cancelled) }
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionClosed(endpoint: endpoint)
        }
    }

    /// Whether the connection is still open; one that timed out, was cancelled or lost its server is not.
    public var isOpen: Bool { channel.isActive }

    public func close() async {
        try? await channel.close()
    }

    /// The command's name for messages: its arguments may be long, or secret.
    private static func name(of command: [String]) -> String { command.first ?? "(empty command)" }
}

/// Hands each answer to the oldest waiting command, and fails every waiting command when the connection ends.
final class RedisReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: `waiting` and `closing` are touched only on the channel's event loop (handler callbacks,
    // and the closures `RedisConnection.pipeline` runs there).
    typealias InboundIn = RESPValue

    private let endpoint: String
    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
    /// Why the connection is being closed, for the commands still waiting.
    private var closing: RedisError?

    init(endpoint: String) { self.endpoint = endpoint }

    /// Queues the promises for the next answers; false (and the promises failed) if the connection is closing.
    func expect(_ promises: [EventLoopPromise<RESPValue>], channel: any Channel) -> Bool {
        guard closing == nil, channel.isActive else {
            for promise in promises { promise.fail(RedisError.connectionClosed(endpoint: endpoint)) }
            return false
        }
        waiting.append(contentsOf: promises)
        return true
    }

    /// Fails every waiting command with `error` and closes: later answers could no longer be matched.
    func abandon(channel: any Channel, with error: RedisError) {
        if closing == nil { closing = error }
        // Closed before the waiting commands hear of it, so that none of them sees the connection still open.
        channel.close(promise: nil)
        failAll()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let promise = waiting.popFirst() else {
            // An answer nobody asked for: the stream is out of step, so nothing after it can be trusted.
            abandon(
                channel: context.channel,
                with: .connectionBroken(
                    endpoint: endpoint, reason: "an answer to no command: the server is not speaking RESP as expected"))
            return
        }
        promise.succeed(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if closing == nil { closing = .connectionClosed(endpoint: endpoint) }
        failAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        abandon(channel: context.channel, with: .connectionBroken(endpoint: endpoint, reason: "\(error)"))
    }

    private func failAll() {
        let error = closing ?? .connectionClosed(endpoint: endpoint)
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
