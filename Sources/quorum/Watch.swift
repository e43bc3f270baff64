import ArgumentParser
import Foundation
import QuorumClient
import QuorumConsensus
import QuorumStore
import QuorumWire

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print changes to a key (or every key with a prefix) as they happen, until interrupted.")
    @OptionGroup var options: ClientOptions
    @Argument var key: String
    @Flag(help: "Watch every key that starts with KEY.") var prefix = false
    @Option(help: "Start from this revision: replay history first, then follow live.") var revision: UInt64?

    func run() async throws {
        let client = try options.makeClient()
        let keyBytes = Array(key.utf8)
        do {
            let stream = try await client.watch(
                keyBytes, rangeEnd: prefix ? KeyRange.prefixEnd(of: keyBytes) : nil, startRevision: revision.map { Revision($0) })
            for try await events in stream {
                for event in events {
                    let name = String(decoding: event.kv.key, as: UTF8.self)
                    switch event.kind {
                    case .put: print("PUT \(name) \(String(decoding: event.kv.value, as: UTF8.self)) (revision \(event.kv.modRevision.rawValue))")
                    case .delete: print("DELETE \(name) (revision \(event.kv.modRevision.rawValue))")
                    }
                }
                // A watch is a stream: piped into another program or a file, each change must arrive as it happens,
                // not when a buffer fills or the watch ends.
                fflush(nil)
            }
        } catch {
            await client.close()
            FileHandle.standardError.write(Data("quorum: \(error)\n".utf8))
            throw ExitCode.failure
        }
        await client.close()
    }
}
