import ArgumentParser
import QuorumClient
import QuorumStore

/// `quorum txn`: compare, then act, atomically.
struct Transaction: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn",
        abstract: "If every comparison holds, run the --then operations, else the --else ones, atomically.",
        discussion: """
            Comparisons: "KEY value|version|create|mod OP OPERAND" with OP one of = != < >, e.g.
              quorum txn --compare "leader value = node-1" --then "put leader node-2" --else "get leader"
            Operations: "put KEY VALUE", "del KEY", "get KEY". Exit code 0 if the comparisons held, 3 if not.
            """)

    @OptionGroup var options: ClientOptions
    @Option(name: .customLong("compare"), help: "A comparison; repeat for more (all must hold).") var comparisons: [String] = []
    @Option(name: .customLong("then"), help: "An operation when the comparisons hold; repeat for more.") var success: [String] = []
    @Option(name: .customLong("else"), help: "An operation when they do not; repeat for more.") var failure: [String] = []

    func run() async throws {
        let request = TransactionRequest(
            compare: try comparisons.map(Self.parseComparison), success: try success.map(Self.parseOperation),
            failure: try failure.map(Self.parseOperation))
        let response = try await withClient(options) { client throws(QuorumClientError) in
            try await client.transaction(request)
        }
        var lines = [response.succeeded ? "SUCCEEDED (revision \(response.revision.rawValue))" : "FAILED (revision \(response.revision.rawValue))"]
        var values: [JSONKeyValue] = []
        for answer in response.responses {
            switch answer {
            case .range(let range):
                values += range.kvs.map(JSONKeyValue.init)
                lines += range.kvs.map { "\(String(decoding: $0.key, as: UTF8.self)) = \(String(decoding: $0.value, as: UTF8.self))" }
            case .deleteRange(let delete): lines.append("deleted \(delete.deleted)")
            case .put: lines.append("OK")
            case .transaction: lines.append("(nested transaction)")
            }
        }
        options.output(
            lines.joined(separator: "\n"),
            json: JSONTransaction(succeeded: response.succeeded, revision: response.revision.rawValue, values: values))
        if !response.succeeded { throw ExitCode(3) }
    }

    struct JSONTransaction: Encodable {
        var succeeded: Bool
        var revision: UInt64
        /// What the `get` operations of the branch that ran returned.
        var values: [JSONKeyValue]
    }

    static func parseComparison(_ text: String) throws -> Comparison {
        let words = text.split(separator: " ", maxSplits: 3).map(String.init)
        guard words.count == 4 else { throw ValidationError("comparison '\(text)' is not KEY TARGET OP OPERAND") }
        let operators: [String: Comparison.Operator] = ["=": .equal, "!=": .notEqual, "<": .less, ">": .greater]
        guard let comparisonOperator = operators[words[2]] else {
            throw ValidationError("unknown operator '\(words[2])'; use = != < >")
        }
        let key = Array(words[0].utf8)
        func number() throws -> UInt64 {
            guard let value = UInt64(words[3]) else { throw ValidationError("'\(words[3])' is not a number") }
            return value
        }
        switch words[1] {
        case "value": return Comparison(key: key, .value(Array(words[3].utf8)), comparisonOperator)
        case "version": return Comparison(key: key, .version(try number()), comparisonOperator)
        case "create": return Comparison(key: key, .createRevision(Revision(try number())), comparisonOperator)
        case "mod": return Comparison(key: key, .modRevision(Revision(try number())), comparisonOperator)
        default: throw ValidationError("unknown target '\(words[1])'; use value, version, create or mod")
        }
    }

    static func parseOperation(_ text: String) throws -> TransactionOperation {
        let words = text.split(separator: " ", maxSplits: 2).map(String.init)
        switch (words.first, words.count) {
        case ("put", 3): return .put(PutRequest(key: Array(words[1].utf8), value: Array(words[2].utf8)))
        case ("del", 2): return .deleteRange(DeleteRangeRequest(key: Array(words[1].utf8)))
        case ("get", 2): return .range(RangeRequest(key: Array(words[1].utf8)))
        default: throw ValidationError("operation '\(text)' is not 'put KEY VALUE', 'del KEY' or 'get KEY'")
        }
    }
}
