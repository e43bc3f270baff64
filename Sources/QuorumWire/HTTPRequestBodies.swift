import Foundation
import QuorumStore

// The JSON bodies a client sends to the HTTP API (docs/http.md), here rather than with the routes in QuorumServer so
// that the fuzz package, which cannot afford a sanitized build of the server, decodes them exactly as the server
// does. Field names follow etcd's JSON gateway where it has one.

/// Decoding a request's JSON body, and explaining to the client why one does not decode.
public enum HTTPRequestBodies {
    /// The body as the routes read it: Foundation's `JSONDecoder` with its default options.
    public static func decode<Body: Decodable>(_: Body.Type, from json: Data) throws -> Body {
        try JSONDecoder().decode(Body.self, from: json)
    }

    /// What is wrong with a body, in the words of the API rather than of `Codable`.
    public static func explain(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "the body has no \"\(key.stringValue)\" field"
        case .typeMismatch(_, let context) where context.codingPath.isEmpty: "the body must be a JSON object"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            "field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" must be \(jsonName(type))"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            "field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has an invalid value"
        default: "the body is not valid JSON"
        }
    }

    private static func jsonName(_ type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type == UInt64.self || type == Int.self { return "a whole number >= 0" }
        return "a \(type)"
    }
}

/// `PUT /v1/kv/{key}`.
public struct PutBody: Decodable, Sendable {
    public var value: String
    /// A lease id in hex, as `POST /v1/lease` returns it.
    public var lease: String?
    public var encoding: ByteEncoding?
}

/// `POST /v1/lease`.
public struct LeaseGrantBody: Decodable, Sendable {
    public var ttl: UInt64

    private enum CodingKeys: String, CodingKey { case ttl }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Foundation reports a number that does not fit (a fraction, a sign, too many digits) as invalid JSON with no
        // field named, so the field is named here.
        guard container.contains(.ttl) else {
            throw DecodingError.keyNotFound(CodingKeys.ttl, .init(codingPath: [], debugDescription: "no ttl"))
        }
        guard let ttl = try? container.decode(UInt64.self, forKey: .ttl) else {
            throw DecodingError.typeMismatch(
                UInt64.self, .init(codingPath: [CodingKeys.ttl], debugDescription: "not a whole number >= 0"))
        }
        self.ttl = ttl
    }
}

/// `POST /v1/auth/authenticate` and `POST /v1/auth/users`.
public struct CredentialsBody: Decodable, Sendable {
    public var name: String
    public var password: String
}

/// `PUT /v1/auth/users/{name}/password`.
public struct PasswordBody: Decodable, Sendable {
    public var password: String
}

/// `PUT /v1/auth/roles/{name}/permissions`: `access` ("read", "write" or "readwrite") on the keys that start with
/// `prefix`, itself in `encoding` (utf8 unless said).
public struct PermissionBody: Decodable, Sendable {
    public var prefix: String
    public var access: String
    public var encoding: ByteEncoding?

    /// The grant, or nil when `access` names none or `prefix` is not valid in its encoding.
    public var permission: KeyPermission? {
        guard let access = KeyPermission.Access(name: access),
            let prefix = (encoding ?? .utf8).bytes(from: prefix)
        else { return nil }
        return KeyPermission(prefix: prefix, access: access)
    }
}

extension LeaseID {
    /// Lease ids travel as hex strings: JSON numbers above 2^53 lose precision in many parsers.
    public static func hex(_ id: LeaseID) -> String { String(id.rawValue, radix: 16) }

    /// Parses 1 to 16 hex digits, with or without `0x`. Zero is refused: on the wire it means "no lease", so a PUT
    /// naming lease 0 would store its key without one. So is a sign, which `UInt64(_:radix:)` alone would take.
    public init?(hex text: Substring) {
        let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? text.dropFirst(2) : text
        guard (1...16).contains(digits.utf8.count), digits.utf8.allSatisfy({ hexDigitValue($0) != nil }),
            let value = UInt64(digits, radix: 16), value != 0
        else { return nil }
        self.init(value)
    }
}
