/// Refuses what no correct peer sends, before any of it reaches an invariant or arithmetic.
extension MultiPaxosNode {
    func validate(_ message: Message, _ payload: PaxosMessage) throws(StepError) {
        if message.from.rawValue == 0 { throw .malformed("sender id 0") }
        if message.from == message.to { throw .malformed("message from \(message.from) to itself") }
        let round = message.term
        if round > Term.ceiling && round != highestRoundSeen && round != highestRoundSeen.next {
            throw .malformed("round \(round) beyond \(Term.ceiling), and not one past the highest seen here")
        }
        func checkIndex(_ field: String, _ index: LogIndex) throws(StepError) {
            if index > LogIndex.ceiling { throw .malformed("\(field) \(index) beyond \(LogIndex.ceiling)") }
        }
        func checkValue(_ value: Entry, acceptedIn valueRound: Term) throws(StepError) {
            try checkIndex("slot", value.index)
            if value.index == .zero { throw .malformed("a value for slot 0") }
            if value.term > valueRound {
                throw .malformed("slot \(value.index) holds a value of round \(value.term), accepted in round \(valueRound)")
            }
        }
        switch payload {
        case .prepare(let firstSlot, _):
            try checkIndex("first slot", firstSlot)
            if firstSlot == .zero { throw .malformed("prepare from slot 0") }
            if round == 0 { throw .malformed("prepare in round 0") }
        case .promise(let promise):
            try checkIndex("commit index", promise.commitIndex)
            var previous = LogIndex.zero
            for item in promise.accepted {
                if item.round == 0 || item.round > round {
                    throw .malformed("slot \(item.value.index) accepted in round \(item.round), promising round \(round)")
                }
                try checkValue(item.value, acceptedIn: item.round)
                if item.value.index <= previous { throw .malformed("promised slots out of order at \(item.value.index)") }
                previous = item.value.index
            }
        case .accept(let accept):
            if round == 0 { throw .malformed("accept in round 0") }
            try checkIndex("commit index", accept.commitIndex)
            var expected = accept.entries.first?.index ?? .zero
            for value in accept.entries {
                try checkValue(value, acceptedIn: round)
                if value.index != expected { throw .malformed("slots not consecutive at \(value.index)") }
                expected = expected.advanced(by: 1)
            }
        case .accepted(let accepted):
            try checkIndex("accepted through", accepted.acceptedThrough)
            try checkIndex("request last", accepted.requestLast)
        case .reject(let rejection):
            try checkIndex("compacted through", rejection.compactedThrough)
            if (round == 0) != (rejection.promisedNode.rawValue == 0) {
                throw .malformed("a promise of round \(round) by node \(rejection.promisedNode)")
            }
            let promisedBallot = Ballot(round: round, node: rejection.promisedNode)
            let refused = Ballot(round: rejection.refusedRound, node: message.to)
            if rejection.compactedThrough == .zero && promisedBallot.admits(refused) {
                throw .malformed("refuses \(refused), which its promise \(promisedBallot) admits")
            }
        case .snapshot(let snapshot):
            if round == 0 { throw .malformed("snapshot in round 0") }
            try checkIndex("snapshot index", snapshot.lastIncludedIndex)
            if snapshot.lastIncludedTerm > round {
                throw .malformed("snapshot round \(snapshot.lastIncludedTerm) newer than the message's \(round)")
            }
            if snapshot.configuration.voters.isEmpty { throw .malformed("a snapshot whose configuration has no voter") }
        case .readIndexResponse(_, let index?):
            try checkIndex("read index", index)
        case .timeoutNow, .readIndexRequest, .readIndexResponse(_, nil):
            break
        }
    }
}
