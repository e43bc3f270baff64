import ArgumentParser
import Foundation
import QuorumClient
import QuorumWire

/// `quorum user`: the cluster's users (docs/security.md).
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Users, their passwords and roles (root's alone once authentication is on).",
        subcommands: [Add.self, Delete.self, Password.self, GrantRole.self, RevokeRole.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @Argument(help: "The user's name: 1 to 64 letters, digits and . _ @ -.") var name: String
        @OptionGroup var password: NewPassword
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.addUser(name, password: try password.read()), options) }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user; its tokens stop working.")
        @Argument var name: String
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.deleteUser(name), options) }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "passwd", abstract: "Change a user's password; its tokens stop working.")
        @Argument var name: String
        @OptionGroup var password: NewPassword
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await change(.changePassword(user: name, password: try password.read()), options)
        }
    }

    struct GrantRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "grant-role", abstract: "Give a user a role ('root' may do everything).")
        @Argument var name: String
        @Argument var role: String
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.grantRole(user: name, role: role), options) }
    }

    struct RevokeRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-role", abstract: "Take a role from a user.")
        @Argument var name: String
        @Argument var role: String
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.revokeRole(user: name, role: role), options) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every user and its roles.")
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.summary, options) }
    }
}

/// `quorum role`: roles and the key prefixes they grant.
struct RoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role",
        abstract: "Roles and their permissions on key prefixes (root's alone once authentication is on).",
        subcommands: [Add.self, Delete.self, Grant.self, Revoke.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a role, with no permission yet.")
        @Argument var name: String
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.addRole(name), options) }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a role; its users lose it.")
        @Argument var name: String
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.deleteRole(name), options) }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "grant",
            abstract: "Let a role read, write or both every key under a prefix (\"\" is every key).")
        @Argument var name: String
        @Argument(help: "The key prefix.") var prefix: String
        @Option(help: "read, write or readwrite.") var access: String = "readwrite"
        @OptionGroup var options: ClientOptions
        func run() async throws {
            guard let granted = KeyPermission.Access(name: access) else {
                throw ValidationError("--access must be read, write or readwrite")
            }
            try await change(
                .grantPermission(role: name, KeyPermission(prefix: Array(prefix.utf8), access: granted)), options)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke", abstract: "Take a role's permission on a prefix away.")
        @Argument var name: String
        @Argument var prefix: String
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.revokePermission(role: name, prefix: Array(prefix.utf8)), options) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every role and its permissions.")
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.summary, options) }
    }
}

/// `quorum auth`: turning authentication on and off, and tokens.
struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth", abstract: "Turn authentication on or off, or get a token for HTTP.",
        subcommands: [Enable.self, Disable.self, Status.self, Token.self])

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Require authentication on every port; user 'root' with role 'root' must exist.")
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.enable, options) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let everyone do everything again (root only).")
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.disable, options) }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Whether authentication is on, and the users and roles.")
        @OptionGroup var options: ClientOptions
        func run() async throws { try await change(.summary, options) }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Print a token for --user from the first endpoint, for `Authorization: Bearer TOKEN` on that node.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            guard case .password(let user, let password)? = try options.credentials() else {
                throw ValidationError("give --user NAME:PASSWORD (or QUORUM_USER)")
            }
            let endpoint = options.endpointList[0]
            let token = try await withClient(options) { client throws(QuorumClientError) in
                try await client.token(user: user, password: password, at: endpoint)
            }
            options.output(token, json: ["token": token, "endpoint": endpoint])
        }
    }
}

/// A new password: `--password`, or one line on standard input with `--password-stdin` (kept out of `ps`).
struct NewPassword: ParsableArguments {
    @Option(help: "The new password (visible to other users of the machine in `ps`; prefer --password-stdin).")
    var password: String?
    @Flag(help: "Read the new password from the first line of standard input.")
    var passwordStdin = false

    func read() throws -> String {
        if let password { return password }
        guard passwordStdin, let line = readLine(strippingNewline: true) else {
            throw ValidationError("give the new password with --password or --password-stdin")
        }
        return line
    }
}

/// Runs a change (or the summary) and prints users and roles as they are after it.
private func change(_ request: AccessRequest, _ options: ClientOptions) async throws {
    let summary = try await withClient(options) { client throws(QuorumClientError) in
        try await client.changeAccess(request)
    }
    options.output(describe(summary), json: AccessSummaryJSON(summary))
}

private func describe(_ summary: AccessSummary) -> String {
    var lines = ["authentication: \(summary.enabled ? "on" : "off")"]
    for (name, roles) in summary.users.sorted(by: { $0.key < $1.key }) {
        lines.append("user \(name): roles \(roles.isEmpty ? "none" : roles.joined(separator: ", "))")
    }
    for (name, permissions) in summary.roles.sorted(by: { $0.key < $1.key }) {
        let grants = permissions.map { "\($0.access.name) '\(String(decoding: $0.prefix, as: UTF8.self))'" }
        lines.append("role \(name): \(grants.isEmpty ? "no permissions" : grants.joined(separator: ", "))")
    }
    return lines.joined(separator: "\n")
}
