import ArgumentParser
import QuorumConsensus

extension ConsensusKind: ExpressibleByArgument {
    /// The help text of every command that founds a cluster.
    static let help: ArgumentHelp = """
        The consensus engine of a new cluster: raft (default) or paxos (Multi-Paxos; docs/consensus.md compares \
        them). It is kept with the data; a restart must give the same (env QUORUM_CONSENSUS).
        """
}
