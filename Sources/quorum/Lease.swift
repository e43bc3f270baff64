import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumStore
import QuorumWire

func parseLease(_ text: String) throws -> LeaseID {
    guard let raw = UInt64(text, radix: 16), raw != 0 else { throw ValidationError("'\(text)' is not a lease id") }
    return LeaseID(raw)
}

struct Lease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grant, keep alive, revoke and list leases.",
        subcommands: [Grant.self, KeepAlive.self, Revoke.self, List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every live lease: id, TTL, time left, keys.")
        @OptionGroup var options: ClientOptions

        struct JSONLease: Encodable {
            var id: String
            var ttl: UInt64
            var remainingSeconds: UInt64
            var keys: [String]
        }

        func run() async throws {
            let leases = try await withClient(options) { client throws(QuorumClientError) in try await client.leases() }
            let rows = leases.map {
                JSONLease(
                    id: String($0.id.rawValue, radix: 16), ttl: $0.grantedTTL.seconds,
                    remainingSeconds: $0.remainingSeconds, keys: $0.keys.map { String(decoding: $0, as: UTF8.self) })
            }
            let widths = [18, 8, 10, 0]
            let text = ([tableRow(["ID", "TTL", "LEFT", "KEYS"], widths)] + rows.map {
                tableRow([$0.id, "\($0.ttl)s", "\($0.remainingSeconds)s", $0.keys.joined(separator: ",")], widths)
            }).joined(separator: "\n")
            options.output(text, json: rows)
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant a lease; prints its id.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Seconds the lease lives without a keep-alive.") var ttl: UInt64

        func run() async throws {
            let lease = try await withClient(options) { client throws(QuorumClientError) in
                try await client.grantLease(ttl: ttl)
            }
            options.output(String(lease.rawValue, radix: 16), json: ["id": String(lease.rawValue, radix: 16)])
        }
    }

    struct KeepAlive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keepalive", abstract: "Keep a lease alive, every third of its TTL, until interrupted.")
        @OptionGroup var options: ClientOptions
        @Argument var lease: String
        @Flag(help: "Renew once and exit.") var once = false

        func run() async throws {
            let id = try parseLease(lease)
            repeat {
                let ttl = try await withClient(options) { client throws(QuorumClientError) in try await client.keepAlive(id) }
                print("lease \(lease) renewed for \(ttl.seconds) s")
                if !once { try await Task.sleep(for: .seconds(max(1, Double(ttl.milliseconds) / 3000))) }
            } while !once
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a lease, deleting its keys.")
        @OptionGroup var options: ClientOptions
        @Argument var lease: String

        func run() async throws {
            let id = try parseLease(lease)
            try await withClient(options) { client throws(QuorumClientError) in try await client.revokeLease(id) }
            print("revoked")
        }
    }
}
