/// Users with their roles and roles with their grants, as JSON: `GET /v1/auth` and the answer to every change over
/// HTTP, and `quorum user list --json`. A prefix is text where it is UTF-8, else base64 with `"encoding": "base64"`.
public struct AccessSummaryJSON: Encodable, Sendable {
    public struct Grant: Encodable, Sendable {
        public var prefix: String
        public var access: String
        public var encoding: String?
    }

    public var enabled: Bool
    public var users: [String: [String]]
    public var roles: [String: [Grant]]

    public init(_ summary: AccessSummary) {
        enabled = summary.enabled
        users = summary.users
        roles = summary.roles.mapValues { permissions in
            permissions.map { permission in
                if let text = ByteEncoding.utf8.text(from: permission.prefix) {
                    return Grant(prefix: text, access: permission.access.name)
                }
                return Grant(
                    prefix: ByteEncoding.base64.text(from: permission.prefix) ?? "", access: permission.access.name,
                    encoding: ByteEncoding.base64.rawValue)
            }
        }
    }
}
