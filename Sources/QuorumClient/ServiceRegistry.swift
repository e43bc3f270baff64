import Foundation
import QuorumStore

/// One instance of a service, as the registry stores it under `services/<service>/<id>` (JSON), bound to the
/// instance's lease: when the instance stops renewing it, it disappears from every subscriber's view.
public struct ServiceInstance: Codable, Hashable, Sendable {
    public var service: String
    public var id: String
    /// Where to reach it, HOST:PORT.
    public var address: String
    public var weight: Int
    public var metadata: [String: String]

    public init(service: String, id: String, address: String, weight: Int = 1, metadata: [String: String] = [:]) {
        self.service = service
        self.id = id
        self.address = address
        self.weight = weight
        self.metadata = metadata
    }

    static func prefix(of service: String) -> [UInt8] { Array("services/\(service)/".utf8) }
    var key: [UInt8] { ServiceInstance.prefix(of: service) + Array(id.utf8) }
}

/// A live registration: its session's lease is renewed in the background until `deregister()` (or until the
/// process dies, after which the lease's TTL removes it).
public final class ServiceRegistration: Sendable {
    public let instance: ServiceInstance
    public let session: Session
    public var lease: LeaseID { session.lease }

    init(instance: ServiceInstance, session: Session) {
        self.instance = instance
        self.session = session
    }

    /// Removes the instance now: stops renewing and revokes its lease (which deletes its key).
    public func deregister() async throws(QuorumClientError) {
        try await session.close()
    }
}

extension QuorumClient {
    /// Registers `instance`, bound to a lease of `ttl` seconds that is renewed in the background.
    public func register(_ instance: ServiceInstance, ttl: UInt64 = 10) async throws(QuorumClientError)
        -> ServiceRegistration
    {
        let session = try await Session(client: self, ttl: .seconds(ttl))
        let value: Data
        do {
            value = try JSONEncoder().encode(instance)
        } catch {
            throw .refused("cannot encode the instance: \(error)")
        }
        try await put(instance.key, Array(value), lease: session.lease)
        return ServiceRegistration(instance: instance, session: session)
    }

    /// The instances of `service` registered now (linearizable), ordered by id.
    public func instances(of service: String) async throws(QuorumClientError) -> [ServiceInstance] {
        let response = try await range(.prefix(ServiceInstance.prefix(of: service)))
        return response.kvs.compactMap { try? JSONDecoder().decode(ServiceInstance.self, from: Data($0.value)) }
    }

    /// The set of instances of `service`, now and after every change, for as long as the stream is iterated.
    public func watchInstances(of service: String) async throws(QuorumClientError)
        -> AsyncThrowingStream<[ServiceInstance], any Error>
    {
        let prefix = ServiceInstance.prefix(of: service)
        let current = try await range(.prefix(prefix))
        let changes = try await watch(
            prefix, rangeEnd: KeyRange.prefixEnd(of: prefix), startRevision: Revision(current.revision.rawValue + 1))
        var known: [[UInt8]: ServiceInstance] = [:]
        for kv in current.kvs {
            if let instance = try? JSONDecoder().decode(ServiceInstance.self, from: Data(kv.value)) { known[kv.key] = instance }
        }
        let initial = known
        return AsyncThrowingStream { continuation in
            let forwarding = Task {
                var known = initial
                continuation.yield(known.values.sorted { $0.id < $1.id })
                do {
                    for try await events in changes {
                        for event in events {
                            switch event.kind {
                            case .put: known[event.kv.key] = try? JSONDecoder().decode(ServiceInstance.self, from: Data(event.kv.value))
                            case .delete: known[event.kv.key] = nil
                            }
                        }
                        continuation.yield(known.values.sorted { $0.id < $1.id })
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in forwarding.cancel() }
        }
    }
}
