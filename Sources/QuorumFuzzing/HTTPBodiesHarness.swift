import Foundation
import QuorumStore
import QuorumWire

/// The JSON bodies of the HTTP API: the input is one body, decoded as each of them the way the routes decode it, and
/// what decodes goes through what the routes do with its fields.
enum HTTPBodiesHarness {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        let json = Data(input)
        if let put = try decode(PutBody.self, json) { try check(put) }
        if let grant = try decode(LeaseGrantBody.self, json) { try check(grant) }
        if let credentials = try decode(CredentialsBody.self, json) { try check(credentials) }
        _ = try decode(PasswordBody.self, json)
        if let grant = try decode(PermissionBody.self, json) { try check(grant) }
    }

    /// The body, or nil when the server refuses it with a 400 and an explanation.
    static func decode<Body: Decodable>(_: Body.Type, _ json: Data) throws(FuzzFailure) -> Body? {
        do {
            return try HTTPRequestBodies.decode(Body.self, from: json)
        } catch let error as DecodingError {
            try checkExplanation(of: error, decoding: Body.self)
            return nil
        } catch {
            // The routes catch only DecodingError: anything else would reach the client as a 500.
            throw FuzzFailure("decoding \(Body.self) threw \(type(of: error)), not a DecodingError: \(error)")
        }
    }

    /// The client is told what to fix: the missing field, or the field whose value is wrong.
    static func checkExplanation<Body>(of error: DecodingError, decoding _: Body.Type) throws(FuzzFailure) {
        let explanation = HTTPRequestBodies.explain(error)
        let field: String? =
            switch error {
            case .keyNotFound(let key, _): key.stringValue
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                context.codingPath.isEmpty ? nil : context.codingPath.map(\.stringValue).joined(separator: ".")
            @unknown default: nil
            }
        guard !explanation.isEmpty else { throw FuzzFailure("no explanation for \(Body.self): \(error)") }
        if let field, !explanation.contains("\"\(field)\"") {
            throw FuzzFailure(
                "the explanation \"\(explanation)\" for \(Body.self) does not name \"\(field)\": \(error)")
        }
    }

    /// The route's encoding choice, the value's bytes, and the lease.
    static func check(_ body: PutBody) throws(FuzzFailure) {
        guard ByteEncoding(naming: nil) == .utf8 else { throw FuzzFailure("a request naming no encoding is not utf8") }
        // The route refuses a query and a body that disagree; the same encoding, however the query spells it, agrees.
        if let named = body.encoding {
            for spelling in [named.rawValue, named.rawValue.uppercased()]
            where ByteEncoding(naming: spelling[...]) != named {
                throw FuzzFailure("?encoding=\(spelling) is not the body's \"encoding\": \"\(named.rawValue)\"")
            }
        }
        let encoding = body.encoding ?? .utf8
        let value = encoding.bytes(from: body.value)
        switch encoding {
        case .utf8:
            guard let value, value == Array(body.value.utf8) else {
                throw FuzzFailure("the utf8 value \(body.value.debugDescription) became \(String(describing: value))")
            }
            guard ByteEncoding.utf8.text(from: value).map({ Array($0.utf8) }) == value else {
                throw FuzzFailure("the utf8 value \(body.value.debugDescription) does not read back as itself")
            }
        case .base64:
            if let value { try checkBase64(value, from: body.value) }
        }
        try checkPercentDecoding(body.value)
        if let text = body.lease { try checkLease(text) }
    }

    /// A value decoded from base64 is answered in base64 by a GET, and a key in a URL takes the URL-safe spelling:
    /// both must decode to the same bytes.
    static func checkBase64(_ value: [UInt8], from text: String) throws(FuzzFailure) {
        guard value.count <= (text.utf8.count + 3) / 4 * 3 else {
            throw FuzzFailure("\(text.debugDescription) decoded to \(value.count) bytes, more than base64 holds")
        }
        guard let answered = ByteEncoding.base64.text(from: value) else {
            throw FuzzFailure("\(value) has no base64 text")
        }
        guard ByteEncoding.base64.bytes(from: answered) == value else {
            throw FuzzFailure(
                "\(text.debugDescription) decoded to \(value), whose base64 \(answered) decodes otherwise")
        }
        let urlSafe = answered.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        guard ByteEncoding.base64.bytes(from: urlSafe) == value else {
            throw FuzzFailure("the URL-safe spelling \(urlSafe) of \(answered) does not decode to \(value)")
        }
    }

    /// The routes percent-decode the key in the path, which may hold any text a client put there.
    static func checkPercentDecoding(_ text: String) throws(FuzzFailure) {
        if let bytes = percentDecodedBytes(text[...]) {
            if !text.contains("%"), bytes != Array(text.utf8) {
                throw FuzzFailure("\(text.debugDescription) has no escape, yet percent-decodes to \(bytes)")
            }
            let lower = bytes.map { "%" + (($0 < 16 ? "0" : "") + String($0, radix: 16)) }.joined()
            for escaped in [lower, lower.uppercased()] {
                guard percentDecodedBytes(escaped[...]) == bytes else {
                    throw FuzzFailure("\(escaped) does not percent-decode to \(bytes)")
                }
            }
        }
    }

    /// An id parsed from the body is the one `POST /v1/lease` would have spelled, in every spelling it accepts.
    static func checkLease(_ text: String) throws(FuzzFailure) {
        let isPlainHex =
            (1...16).contains(text.utf8.count)
            && text.utf8.allSatisfy { $0 < 0x80 && Character(UnicodeScalar($0)).isHexDigit }
        let isZero = text.utf8.allSatisfy { $0 == UInt8(ascii: "0") }
        guard let id = LeaseID(hex: text[...]) else {
            if isPlainHex && !isZero { throw FuzzFailure("the hex lease id \(text) does not parse") }
            return
        }
        guard id.rawValue != 0, text.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") }) else {
            throw FuzzFailure("lease \(text) parsed as \(id): zero means no lease, and an id has no sign")
        }
        let hex = LeaseID.hex(id)
        for spelling in [hex, "0x" + hex, "0X" + hex.uppercased(), String(repeating: "0", count: 16 - hex.count) + hex]
        where LeaseID(hex: spelling[...]) != id {
            throw FuzzFailure("lease \(text) parsed as \(id), whose spelling \(spelling) parses otherwise")
        }
    }

    /// The lease the route grants, and the TTL it answers with: what was asked, unless so long that it saturates.
    static func check(_ body: LeaseGrantBody) throws(FuzzFailure) {
        let ttl = LeaseTTL(seconds: body.ttl)
        let answered = body.ttl <= UInt64.max / 1000 ? ttl.seconds == body.ttl : ttl.milliseconds == .max
        guard answered else { throw FuzzFailure("a grant of \(body.ttl) s became \(ttl)") }
    }

    /// The route asks the runtime with the operation the binary client sends, whose encoding must carry the
    /// credentials intact.
    static func check(_ body: CredentialsBody) throws(FuzzFailure) {
        let request = ClientRequest(
            requestID: 1, group: 1, operation: .access(.authenticate(user: body.name, password: body.password)))
        try expectRoundTrip(
            request, "an authenticate request", encode: { $0.frame.payload },
            decode: { try ClientRequest(decoding: Frame(kind: .clientRequest, payload: $0)) })
    }

    /// The grant the route asks for carries the prefix's bytes and the access the body names, and reaches the runtime
    /// intact.
    static func check(_ body: PermissionBody) throws(FuzzFailure) {
        guard let permission = body.permission else { return }
        guard permission.access.name == body.access.lowercased() else {
            throw FuzzFailure("access \(body.access.debugDescription) became \(permission.access.name)")
        }
        if (body.encoding ?? .utf8) == .utf8, permission.prefix != Array(body.prefix.utf8) {
            throw FuzzFailure("the utf8 prefix \(body.prefix.debugDescription) became \(permission.prefix)")
        }
        let request = ClientRequest(
            requestID: 1, group: 1, operation: .access(.grantPermission(role: "role", permission)))
        try expectRoundTrip(
            request, "a permission grant", encode: { $0.frame.payload },
            decode: { try ClientRequest(decoding: Frame(kind: .clientRequest, payload: $0)) })
    }
}
