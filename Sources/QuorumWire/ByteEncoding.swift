import Foundation

/// How the HTTP API spells keys and values, which are bytes in the store, as JSON strings and URL parts.
/// `utf8` (the default) keeps `curl` readable; `base64` carries any bytes. A request chooses with
/// `?encoding=base64` (or `"encoding": "base64"` in a PUT body).
public enum ByteEncoding: String, Codable, Sendable {
    case utf8
    case base64

    /// Parses the request's choice; nil when the request names an encoding this API does not know.
    public init?(naming name: Substring?) {
        guard let name else {
            self = .utf8
            return
        }
        guard let encoding = ByteEncoding(rawValue: name.lowercased()) else { return nil }
        self = encoding
    }

    /// From a body's `"encoding"`, in any case, as `init(naming:)` reads the query's.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let encoding = ByteEncoding(naming: name[...]) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unknown encoding \(name); use utf8 or base64")
        }
        self = encoding
    }

    /// The bytes a text from the request stands for, or nil when it is not valid in this encoding.
    public func bytes(from text: String) -> [UInt8]? {
        switch self {
        case .utf8: return Array(text.utf8)
        case .base64:
            // URL-safe base64 too, because a key in a URL path cannot carry '/' unescaped.
            var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            standard += String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
            return Data(base64Encoded: standard).map { Array($0) }
        }
    }

    /// Text for bytes from the store in this encoding, or nil when `utf8` was asked for and they are not UTF-8
    /// (the caller then answers in base64 and says so, rather than replace bytes and corrupt the value).
    public func text(from bytes: [UInt8]) -> String? {
        switch self {
        case .utf8: return String(validating: bytes, as: UTF8.self)
        case .base64: return Data(bytes).base64EncodedString()
        }
    }
}

/// Undoes URL percent-encoding into raw bytes (a key may be any bytes, so not necessarily UTF-8).
/// Returns nil for a malformed escape such as `%G1` or a trailing `%`.
public func percentDecodedBytes(_ text: Substring) -> [UInt8]? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        guard byte == UInt8(ascii: "%") else {
            bytes.append(byte)
            continue
        }
        guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue)
        else { return nil }
        bytes.append(high << 4 | low)
    }
    return bytes
}

/// The value of one ASCII hex digit, either case; nil for any other byte.
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
