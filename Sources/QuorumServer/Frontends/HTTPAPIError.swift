import Foundation
import Hummingbird
import QuorumConsensus
import QuorumStore

/// A refusal the HTTP API answers as `{"error": "..."}` with a status code that tells a script what happened:
/// 400 the request is wrong, 404 no such key or lease, 409 conflicts with history (compacted, lease exists),
/// 413 too large, 503 retry (elsewhere or later). A follower asked to write adds the leader it knows of.
struct HTTPAPIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    var leader: NodeID?
    var leaderClientAddress: String?

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badRequest(_ message: String) -> HTTPAPIError { HTTPAPIError(.badRequest, message) }

    /// Writes go to the leader. The frontend does not know the other members' HTTP ports, so it cannot redirect;
    /// it names the leader and its client address (the same hint the binary protocol gives) instead.
    static func notLeader(_ leader: NodeID?, clientAddress: String) -> HTTPAPIError {
        var error = HTTPAPIError(
            .serviceUnavailable,
            leader.map { "not the leader; send writes to the leader, node \($0.rawValue)" }
                ?? "not the leader and no leader is known; retry after an election")
        error.leader = leader
        error.leaderClientAddress = clientAddress.isEmpty ? nil : clientAddress
        return error
    }

    init(_ error: StoreError) {
        let status: HTTPResponse.Status
        switch error {
        case .keyNotFound, .leaseNotFound: status = .notFound
        case .compacted, .leaseAlreadyExists, .staleSequence, .invalidMove: status = .conflict
        // The key lives in another group now (or soon): ask that group, as the message says.
        case .keyMoved, .keyNotServed: status = .misdirectedRequest
        case .keyImporting: status = .serviceUnavailable
        case .keyTooLarge, .valueTooLarge, .commandTooLarge: status = .contentTooLarge
        case .futureRevision, .emptyKey, .invalidLeaseID, .invalidTTL, .leaseWithIgnoreLease,
            .tooManyTransactionOperations, .transactionTooDeep, .unsupportedFormatVersion, .malformed:
            status = .badRequest
        }
        self.init(status, error.description)
    }

    private struct Body: Encodable {
        var error: String
        var leader: UInt64?
        var leaderClientAddress: String?
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(
            status, Body(error: message, leader: leader?.rawValue, leaderClientAddress: leaderClientAddress))
        if status == .serviceUnavailable { response.headers[.retryAfter] = "1" }
        return response
    }
}

/// Builds JSON responses with Foundation's encoder, so every endpoint spells its fields the same way.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs cannot fail; if it ever did, say so rather than send an empty 200.
        guard var data = try? encoder.encode(value) else {
            return Response(
                status: .internalServerError,
                body: .init(byteBuffer: ByteBuffer(string: "{\"error\":\"encoding failed\"}\n")))
        }
        data.append(UInt8(ascii: "\n"))
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
