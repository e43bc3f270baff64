import Testing

@testable import QuorumConsensus

/// A candidate's last log entry against a voter whose log is `[1@1, 2@1, 3@2]` (last index 3, last term 2).
struct LogComparison: CustomTestStringConvertible, Sendable {
    var lastLogTerm: Term
    var lastLogIndex: LogIndex
    var granted: Bool

    var testDescription: String {
        "candidate ends at \(lastLogIndex)@\(lastLogTerm) → \(granted ? "granted" : "refused")"
    }
}

@Suite("Vote granting")
struct VoteGrantingTests {
    static let comparisons: [LogComparison] = [
        .init(lastLogTerm: 0, lastLogIndex: 0, granted: false),  // empty log
        .init(lastLogTerm: 1, lastLogIndex: 2, granted: false),  // older last term
        .init(lastLogTerm: 1, lastLogIndex: 3, granted: false),  // older last term, same length
        .init(lastLogTerm: 1, lastLogIndex: 9, granted: false),  // longer, but older last term
        .init(lastLogTerm: 2, lastLogIndex: 2, granted: false),  // same last term, shorter
        .init(lastLogTerm: 2, lastLogIndex: 3, granted: true),  // identical
        .init(lastLogTerm: 2, lastLogIndex: 4, granted: true),  // same last term, longer
        .init(lastLogTerm: 3, lastLogIndex: 1, granted: true),  // newer last term, shorter
        .init(lastLogTerm: 3, lastLogIndex: 3, granted: true),  // newer last term
    ]

    static func voter(injectedBug: InjectedBug? = nil) -> RaftNode {
        var options = testOptions(voters: [1, 2, 3])
        options.injectedBug = injectedBug
        return makeNode(
            2, options: options,
            recovered: RecoveredState(hardState: HardState(term: 2), entries: entries(terms: [1, 1, 2])))
    }

    static func request(_ comparison: LogComparison, preVote: Bool) -> Message {
        Message(
            from: 1, to: 2, term: 3,
            payload: .requestVote(
                VoteRequest(
                    lastLogIndex: comparison.lastLogIndex, lastLogTerm: comparison.lastLogTerm, isPreVote: preVote,
                    isLeadershipTransfer: false)))
    }

    @Test(
        "§5.4.1 a vote is granted only to a candidate whose log is at least as up to date",
        arguments: comparisons, [false, true])
    func voteRequiresUpToDateLog(comparison: LogComparison, preVote: Bool) {
        var voter = Self.voter()
        step(&voter, Self.request(comparison, preVote: preVote))
        let ready = drain(&voter)
        let answers = (ready.messages + ready.messagesAfterPersist).filter(\.payload.isVoteResponse)
        #expect(answers.count == 1)
        #expect(answers.first?.payload == .requestVoteResponse(granted: comparison.granted, isPreVote: preVote))
        if preVote {
            #expect(voter.term == 2, "a pre-vote changes nothing")
            #expect(voter.votedFor == nil)
            // A granted pre-vote answers in the candidate's prospective term, a refusal in the voter's.
            #expect(answers.first?.term == (comparison.granted ? 3 : 2))
        } else {
            #expect(voter.term == 3, "a real vote request with a higher term is adopted either way")
            #expect(voter.votedFor == (comparison.granted ? 1 : nil))
            #expect(answers.first?.term == 3)
        }
    }

    @Test("the vote-granting table catches a voter that skips the log check (injected bug)")
    func injectedVoteBugIsCaught() {
        var voter = Self.voter(injectedBug: .voteWithoutLogCheck)
        let stale = Self.comparisons[1]
        step(&voter, Self.request(stale, preVote: false))
        #expect(voter.votedFor == 1, "the injected bug grants what §5.4.1 refuses")
    }

    struct PriorVote: CustomTestStringConvertible, Sendable {
        var votedFor: NodeID?
        var knowsLeader: Bool
        var granted: Bool
        var testDescription: String {
            "voted for \(votedFor.map(\.description) ?? "nobody"), \(knowsLeader ? "knows" : "knows no") leader"
                + " → \(granted ? "granted" : "refused")"
        }
    }

    @Test(
        "§5.2 within one term a voter grants at most one candidate, and none while it follows a leader",
        arguments: [
            PriorVote(votedFor: nil, knowsLeader: false, granted: true),
            PriorVote(votedFor: 1, knowsLeader: false, granted: true),  // a repeated request is answered again
            PriorVote(votedFor: 3, knowsLeader: false, granted: false),
            PriorVote(votedFor: nil, knowsLeader: true, granted: false),
        ])
    func onePerTerm(prior: PriorVote) {
        var options = testOptions(voters: [1, 2, 3])
        options.checkQuorum = false  // so a known leader does not make the voter ignore the request outright
        var voter = makeNode(
            2, options: options, recovered: RecoveredState(hardState: HardState(term: 5, votedFor: prior.votedFor)))
        if prior.knowsLeader {
            step(&voter, Message(from: 3, to: 2, term: 5, payload: .heartbeat(commitIndex: 0, readContext: 0)))
        }
        drain(&voter)
        let request = VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: false, isLeadershipTransfer: false)
        step(&voter, Message(from: 1, to: 2, term: 5, payload: .requestVote(request)))
        let ready = drain(&voter)
        #expect(
            ready.messagesAfterPersist == [
                Message(
                    from: 2, to: 1, term: 5, payload: .requestVoteResponse(granted: prior.granted, isPreVote: false))
            ])
        #expect(voter.votedFor == (prior.granted ? 1 : prior.votedFor))
        #expect(voter.term == 5)
    }

    @Test("§5.2 granting a vote restarts the voter's election timer")
    func grantingResetsTimer() {
        var options = testOptions(voters: [1, 2, 3])
        options.preVote = false
        var voter = makeNode(2, options: options)
        for _ in 0..<8 { voter.tick() }
        let request = VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: false, isLeadershipTransfer: false)
        step(&voter, Message(from: 1, to: 2, term: 1, payload: .requestVote(request)))
        #expect(voter.electionElapsed == 0)
    }

    @Test("§9.6 a pre-vote is answered even by a voter that already voted in its current term")
    func preVoteForNextTermIgnoresCurrentVote() {
        var voter = makeNode(
            2, options: testOptions(voters: [1, 2, 3]),
            recovered: RecoveredState(hardState: HardState(term: 4, votedFor: 3)))
        let request = VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: true, isLeadershipTransfer: false)
        step(&voter, Message(from: 1, to: 2, term: 5, payload: .requestVote(request)))
        let ready = drain(&voter)
        #expect(
            ready.messages == [
                Message(from: 2, to: 1, term: 5, payload: .requestVoteResponse(granted: true, isPreVote: true))
            ])
        #expect(voter.term == 4)
        #expect(voter.votedFor == 3)
    }

    @Test("§5.1 a pre-vote from a stale term is refused in the voter's term")
    func stalePreVoteRefused() {
        var voter = makeNode(
            2, options: testOptions(voters: [1, 2, 3]), recovered: RecoveredState(hardState: HardState(term: 4)))
        let request = VoteRequest(lastLogIndex: 9, lastLogTerm: 3, isPreVote: true, isLeadershipTransfer: false)
        step(&voter, Message(from: 1, to: 2, term: 3, payload: .requestVote(request)))
        let ready = drain(&voter)
        #expect(
            ready.messages == [
                Message(from: 2, to: 1, term: 4, payload: .requestVoteResponse(granted: false, isPreVote: true))
            ])
    }

    @Test("§5.1 a real vote request from a stale term is dropped unanswered")
    func staleVoteDropped() {
        var voter = makeNode(
            2, options: testOptions(voters: [1, 2, 3]), recovered: RecoveredState(hardState: HardState(term: 4)))
        let request = VoteRequest(lastLogIndex: 9, lastLogTerm: 3, isPreVote: false, isLeadershipTransfer: false)
        step(&voter, Message(from: 1, to: 2, term: 3, payload: .requestVote(request)))
        #expect(voter.votedFor == nil)
        #expect(!voter.hasReady)
    }
}
