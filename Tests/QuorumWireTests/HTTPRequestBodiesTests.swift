import Foundation
import QuorumWire
import Testing

/// What the HTTP API tells a client whose JSON body does not decode: the field at fault, and what it must be.
@Suite("HTTP request bodies")
struct HTTPRequestBodiesTests {
    private func explanation<Body: Decodable>(_: Body.Type, _ json: String) -> String? {
        do {
            _ = try HTTPRequestBodies.decode(Body.self, from: Data(json.utf8))
            return nil
        } catch let error as DecodingError {
            return HTTPRequestBodies.explain(error)
        } catch {
            return "not a DecodingError: \(error)"
        }
    }

    @Test("a body that is not an object is told to be one")
    func notAnObject() {
        for json in ["[1]", #""text""#, "5"] {
            #expect(explanation(PutBody.self, json) == "the body must be a JSON object", "\(json)")
        }
        #expect(explanation(PutBody.self, "{not json") == "the body is not valid JSON")
    }

    @Test("a TTL that is not a whole number >= 0 is named as such")
    func ttlMustBeWhole() {
        for json in [#"{"ttl": 1.5}"#, #"{"ttl": -3}"#, #"{"ttl": "10"}"#, #"{"ttl": 18446744073709551616}"#] {
            #expect(explanation(LeaseGrantBody.self, json) == #"field "ttl" must be a whole number >= 0"#, "\(json)")
        }
        #expect(explanation(LeaseGrantBody.self, #"{}"#) == #"the body has no "ttl" field"#)
        #expect((try? HTTPRequestBodies.decode(LeaseGrantBody.self, from: Data(#"{"ttl": 10}"#.utf8)))?.ttl == 10)
    }

    @Test("a body's encoding is read in any case, as the query's is")
    func encodingIgnoresCase() throws {
        let body = try HTTPRequestBodies.decode(
            PutBody.self, from: Data(#"{"value": "dg==", "encoding": "BASE64"}"#.utf8))
        #expect(body.encoding == .base64)
        #expect(
            explanation(PutBody.self, #"{"value": "v", "encoding": "rot13"}"#)
                == #"field "encoding" has an invalid value"#)
    }
}
