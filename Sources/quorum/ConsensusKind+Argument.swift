import ArgumentParser
import QuorumConsensus

extension ConsensusKind: ExpressibleByArgument {
    /// The help text of every command that founds a cluster.
    static let help: ArgumentHelp = """
        The consensus engine of a new cluster: raft (default) or paxos (Multi-Paxos: no membership changes yet; \
        docs/consensus.md). It is kept with the data; a restart must give the same (env QUORUM_CONSENSUS).
        """
}
