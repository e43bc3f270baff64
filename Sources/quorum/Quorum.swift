import ArgumentParser

@main
struct Quorum: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quorum: replicated coordination and storage.",
        subcommands: [Simulate.self]
    )
}
