import Hummingbird
import QuorumWire

/// Users, roles and the authentication switch over HTTP, as `quorum user`, `quorum role` and `quorum auth` change
/// them on the client port (docs/security.md): root's alone once authentication is on. Every change answers with
/// every user and role as they are after it.
extension HTTPRoutes {
    func registerAccess(on router: Router<BasicRequestContext>) {
        router.get("/v1/auth") { request, _ in try await addressing(request).changeAccess(.summary) }
        router.post("/v1/auth/enable") { request, _ in try await addressing(request).changeAccess(.enable) }
        router.post("/v1/auth/disable") { request, _ in try await addressing(request).changeAccess(.disable) }
        router.post("/v1/auth/users") { request, _ in
            var request = request
            let body = try await decodeBody(
                CredentialsBody.self, of: &request, example: #"{"name": "alice", "password": "..."}"#)
            return try await addressing(request).changeAccess(.addUser(body.name, password: body.password))
        }
        router.delete("/v1/auth/users/{user}") { request, context in
            try await addressing(request).changeAccess(.deleteUser(try Self.name("user", in: context)))
        }
        router.put("/v1/auth/users/{user}/password") { request, context in
            var request = request
            let body = try await decodeBody(PasswordBody.self, of: &request, example: #"{"password": "..."}"#)
            let user = try Self.name("user", in: context)
            return try await addressing(request).changeAccess(.changePassword(user: user, password: body.password))
        }
        router.put("/v1/auth/users/{user}/roles/{role}") { request, context in
            let (user, role) = (try Self.name("user", in: context), try Self.name("role", in: context))
            return try await addressing(request).changeAccess(.grantRole(user: user, role: role))
        }
        router.delete("/v1/auth/users/{user}/roles/{role}") { request, context in
            let (user, role) = (try Self.name("user", in: context), try Self.name("role", in: context))
            return try await addressing(request).changeAccess(.revokeRole(user: user, role: role))
        }
        router.put("/v1/auth/roles/{role}") { request, context in
            try await addressing(request).changeAccess(.addRole(try Self.name("role", in: context)))
        }
        router.delete("/v1/auth/roles/{role}") { request, context in
            try await addressing(request).changeAccess(.deleteRole(try Self.name("role", in: context)))
        }
        router.put("/v1/auth/roles/{role}/permissions") { request, context in
            var request = request
            let body = try await decodeBody(
                PermissionBody.self, of: &request, example: #"{"prefix": "app/", "access": "readwrite"}"#)
            guard let permission = body.permission else {
                throw HTTPAPIError.badRequest(
                    "\"access\" must be read, write or readwrite, and \"prefix\" valid in its encoding")
            }
            let role = try Self.name("role", in: context)
            return try await addressing(request).changeAccess(.grantPermission(role: role, permission))
        }
        router.delete("/v1/auth/roles/{role}/permissions") { request, context in
            let role = try Self.name("role", in: context)
            let routes = try addressing(request)
            let encoding = try routes.encoding(of: request, body: nil)
            guard let text = request.uri.queryParameters.get("prefix"), let prefix = encoding.bytes(from: text) else {
                throw HTTPAPIError.badRequest("name the grant to revoke with ?prefix=..., valid in its encoding")
            }
            return try await routes.changeAccess(.revokePermission(role: role, prefix: prefix))
        }
    }

    /// A user or role named in the path, percent-decoded (`dave%40example` names `dave@example`).
    private static func name(_ parameter: String, in context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require(parameter)
        guard let bytes = percentDecodedBytes(raw[...]), let name = String(validating: bytes, as: UTF8.self) else {
            throw HTTPAPIError.badRequest("the \(parameter) name '\(raw)' has a malformed %-escape")
        }
        return name
    }

    private func changeAccess(_ change: AccessRequest) async throws -> Response {
        let response = await gateway.perform(.access(change), group: NodeHost.clusterGroup, token: token)
        guard case .access(.summary(let summary)) = response.outcome else { throw refusal(response.outcome) }
        return JSONResponse.make(.ok, AccessSummaryJSON(summary))
    }
}
