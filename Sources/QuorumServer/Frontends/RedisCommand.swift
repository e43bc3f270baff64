import QuorumWire

/// One Redis command as a client sent it: the name (upper-cased, for dispatch) and its arguments.
struct RedisCommand: Hashable, Sendable {
    let name: String
    /// The name as sent, for error messages.
    let rawName: String
    /// The arguments after the name, as raw bytes: keys and values are binary-safe.
    let arguments: [[UInt8]]

    init(name: String, arguments: [[UInt8]]) {
        self.rawName = name
        self.name = name.uppercased()
        self.arguments = arguments
    }

    /// A command is an array of bulk strings; nil for anything else (which is a protocol error, as in Redis).
    init?(_ value: RESPValue) {
        guard case .array(let parts) = value, let first = parts.first?.bulkBytes else { return nil }
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(parts.count - 1)
        for part in parts.dropFirst() {
            guard let bytes = part.bulkBytes else { return nil }
            arguments.append(bytes)
        }
        self.init(name: String(decoding: first, as: UTF8.self), arguments: arguments)
    }

    /// The name as Redis quotes it in errors: lower-case.
    var displayName: String { name.lowercased() }

    func argument(_ index: Int) -> String {
        String(decoding: arguments[index], as: UTF8.self)
    }

    /// Argument `index` upper-cased, for options such as NX or PX.
    func option(_ index: Int) -> String { argument(index).uppercased() }

    /// Redis's reply to a command it does not know.
    var unknownError: RESPValue {
        let shown = arguments.prefix(20).map { "'\(String(decoding: $0.prefix(128), as: UTF8.self))' " }.joined()
        return .error("ERR unknown command '\(String(rawName.prefix(128)))', with args beginning with: \(shown)")
    }

    var arityError: RESPValue { .error("ERR wrong number of arguments for '\(displayName)' command") }
}

extension RESPValue {
    fileprivate var bulkBytes: [UInt8]? {
        if case .bulkString(let bytes) = self { return bytes }
        return nil
    }

    static let ok = RESPValue.simpleString("OK")
    static let syntaxError = RESPValue.error("ERR syntax error")
    static let notInteger = RESPValue.error("ERR value is not an integer or out of range")
}
