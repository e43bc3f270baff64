import Foundation
import QuorumFuzzing
import Testing

/// `Fuzz/Corpus`, found from this file's place in the repository.
private let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus")

/// Set to write the seeds of every target to its corpus directory (after an encoder changed).
private let writeSeeds = ProcessInfo.processInfo.environment["QUORUM_FUZZ_WRITE_SEEDS"] != nil

private func seedName(_ index: Int) -> String { "seed-" + String(format: "%02d", index) }

private func corpusFiles(of target: FuzzTarget) throws -> [URL] {
    let directory = corpusRoot.appendingPathComponent(target.rawValue)
    return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
}

/// Every input in `Fuzz/Corpus/<target>/` (the seeds, and every input a fuzzer found a crash with) goes through the
/// same entry point as the fuzz target does, so that a fixed crash stays fixed without a sanitizer build.
@Suite("Fuzz corpora")
struct FuzzCorpusTests {
    @Test("every committed input passes its decoder's checks", arguments: FuzzTarget.allCases)
    func committedInputs(target: FuzzTarget) throws {
        if writeSeeds { try write(target.seeds, of: target) }
        let files = try corpusFiles(of: target)
        #expect(files.count >= target.seeds.count)
        for file in files {
            do { try target.run(Array(try Data(contentsOf: file))) } catch {
                Issue.record("\(target.rawValue)/\(file.lastPathComponent): \(error)")
            }
        }
    }

    @Test("the committed seeds are what today's encoders write", .disabled(if: writeSeeds), arguments: FuzzTarget.allCases)
    func seedsAreCurrent(target: FuzzTarget) throws {
        let directory = corpusRoot.appendingPathComponent(target.rawValue)
        for (index, seed) in target.seeds.enumerated() {
            let committed = try? Data(contentsOf: directory.appendingPathComponent(seedName(index)))
            #expect(
                committed.map(Array.init) == seed,
                "\(target.rawValue)/\(seedName(index)) is stale: run QUORUM_FUZZ_WRITE_SEEDS=1 swift test --filter FuzzCorpusTests"
            )
        }
    }

    private func write(_ seeds: [[UInt8]], of target: FuzzTarget) throws {
        let directory = corpusRoot.appendingPathComponent(target.rawValue)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for file in try corpusFiles(of: target) where file.lastPathComponent.hasPrefix("seed-") {
            try FileManager.default.removeItem(at: file)
        }
        for (index, seed) in seeds.enumerated() {
            try Data(seed).write(to: directory.appendingPathComponent(seedName(index)))
        }
    }
}
