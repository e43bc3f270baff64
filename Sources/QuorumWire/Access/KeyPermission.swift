import QuorumCodec
import QuorumSharding

/// What a role may do with the keys under one prefix, as etcd's RBAC grants on key ranges. The empty prefix is every
/// key.
public struct KeyPermission: Hashable, Sendable {
    public enum Access: UInt8, Hashable, Sendable, CaseIterable {
        case read = 1
        case write = 2
        case readWrite = 3

        /// Whether a grant of `self` allows `needed`.
        public func allows(_ needed: Access) -> Bool { rawValue & needed.rawValue == needed.rawValue }

        public var name: String {
            switch self {
            case .read: "read"
            case .write: "write"
            case .readWrite: "readwrite"
            }
        }

        public init?(name: String) {
            guard let access = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = access
        }
    }

    public var prefix: [UInt8]
    public var access: Access

    public init(prefix: [UInt8], access: Access) {
        self.prefix = prefix
        self.access = access
    }

    /// Whether every key of the interval etcd's (key, rangeEnd) names starts with this prefix.
    public func covers(key: [UInt8], rangeEnd: [UInt8]?) -> Bool {
        guard key.starts(with: prefix) else { return false }
        guard let rangeEnd, !rangeEnd.isEmpty else { return true }
        // [key, rangeEnd) stays under the prefix when rangeEnd is at most the first key after every key with it.
        guard let end = KeySpan.prefixEnd(of: prefix) else { return true }
        return rangeEnd != [0] && !end.lexicographicallyPrecedes(rangeEnd)
    }
}

extension ByteWriter {
    mutating func write(_ permission: KeyPermission) {
        writeLengthPrefixed(permission.prefix)
        write(permission.access.rawValue)
    }
}

extension ByteReader {
    mutating func readKeyPermission() throws(DecodingFailure) -> KeyPermission {
        let prefix = try readLengthPrefixed("permission prefix")
        let raw = try readByte("permission access")
        guard let access = KeyPermission.Access(rawValue: raw) else {
            throw .invalid(field: "permission access", value: UInt64(raw))
        }
        return KeyPermission(prefix: prefix, access: access)
    }
}
