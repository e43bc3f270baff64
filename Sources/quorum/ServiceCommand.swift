import ArgumentParser
import Foundation
import QuorumClient

/// `quorum service`: the registry that balancers and clients discover instances from.
struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Register, list and watch service instances.",
        subcommands: [Register.self, List.self, WatchInstances.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an instance and keep it registered until interrupted (its lease then expires).")
        @OptionGroup var options: ClientOptions
        @Argument var service: String
        @Argument var id: String
        @Argument(help: "HOST:PORT where the instance serves.") var address: String
        @Option var weight = 1
        @Option(help: "Seconds the registration outlives this process.") var ttl: UInt64 = 10
        @Option(help: "KEY=VALUE metadata; repeat for more.") var meta: [String] = []

        func run() async throws {
            var metadata: [String: String] = [:]
            for pair in meta {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("metadata '\(pair)' is not KEY=VALUE") }
                metadata[String(parts[0])] = String(parts[1])
            }
            let instance = ServiceInstance(service: service, id: id, address: address, weight: weight, metadata: metadata)
            let registration = try await withClient(options) { client throws(QuorumClientError) in
                try await client.register(instance, ttl: ttl)
            }
            print("registered \(service)/\(id) at \(address) (lease \(String(registration.lease.rawValue, radix: 16))); Ctrl-C to stop")
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The instances of a service now.")
        @OptionGroup var options: ClientOptions
        @Argument var service: String

        func run() async throws {
            let instances = try await withClient(options) { client throws(QuorumClientError) in
                try await client.instances(of: service)
            }
            let widths = [16, 22, 8, 0]
            let text = ([tableRow(["ID", "ADDRESS", "WEIGHT", "METADATA"], widths)] + instances.map {
                tableRow(
                    [$0.id, $0.address, "\($0.weight)", $0.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")],
                    widths)
            }).joined(separator: "\n")
            options.output(text, json: instances)
        }
    }

    struct WatchInstances: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch", abstract: "Print the set of instances whenever it changes, until interrupted.")
        @OptionGroup var options: ClientOptions
        @Argument var service: String

        func run() async throws {
            let client = try options.makeClient()
            do {
                for try await instances in try await client.watchInstances(of: service) {
                    options.output(
                        "\(service): " + instances.map { "\($0.id)@\($0.address)" }.joined(separator: " "), json: instances)
                }
            } catch {
                await client.close()
                FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
