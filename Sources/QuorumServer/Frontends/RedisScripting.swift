import NIOCore
import NIOPosix
import QuorumLua
import QuorumWire
import Synchronization

/// Lua scripting for a node's Redis port (EVAL, EVALSHA, SCRIPT): one Lua state (`LuaScriptEngine`) on a thread of its
/// own, so that a long script never holds up the event loop, the other connections or the consensus groups. Scripts
/// run one at a time, as in Redis, each against a `RedisWorkingSet` that the executor loaded with the script's
/// declared keys; what the script writes there becomes one compared transaction (`RedisExecutor.script`).
///
/// Redis's BUSY semantics, narrowed to what a script can hold up here: once the running script has run longer than
/// the busy threshold, new scripts are answered `BUSY` until it ends or SCRIPT KILL stops it. Commands other than
/// scripts go on being served (those on the script's keys wait for it, as behind any command on the same keys). A
/// script past its instruction budget is stopped without anyone asking.
///
/// The script cache is the node's own, as Redis's is the server's: a script loaded on one node must be loaded on
/// another (clients that use EVALSHA load again on NOSCRIPT).
final class RedisScripting: @unchecked Sendable {
    // @unchecked Sendable: `known` is touched only on the event loop; the engine only on the script thread (one job
    // at a time); `runningSince` is atomic.
    private let loop: any EventLoop
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let engine: EngineBox?
    /// The reply to every script command when Lua cannot run here (the library is missing): it names the package.
    let unavailable: RESPValue?
    private let busyNanoseconds: UInt64
    /// Scripts this node has compiled, by SHA-1, for SCRIPT EXISTS and EVALSHA's NOSCRIPT.
    private var known: Set<String> = []
    /// The engine's count of cache flushes when `known` was last brought up to date.
    private var knownFlushes = 0
    /// When the running script started (uptime nanoseconds); 0 while none runs.
    private let runningSince = Atomic<UInt64>(0)

    /// The engine, handed to the script thread (and only used there).
    private final class EngineBox: @unchecked Sendable {
        let engine: LuaScriptEngine
        init(_ engine: LuaScriptEngine) { self.engine = engine }
    }

    init(
        loop: any EventLoop, busyThreshold: Duration, limits: LuaScriptEngine.Limits,
        library: Result<LuaLibrary, LuaUnavailable> = LuaLibrary.shared
    ) {
        self.loop = loop
        let (seconds, attoseconds) = busyThreshold.components
        busyNanoseconds = UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
        do {
            engine = EngineBox(try LuaScriptEngine(library: library.get(), limits: limits))
            unavailable = nil
        } catch let error as LuaScriptError {
            engine = nil
            unavailable = error.reply
        } catch {
            engine = nil
            unavailable = .error("ERR \(error)")
        }
        thread.start()
    }

    deinit {
        thread.shutdownGracefully { _ in }
    }

    /// BUSY while the running script has run past the threshold; nil otherwise.
    var busy: RESPValue? {
        let started = runningSince.load(ordering: .relaxed)
        guard started != 0, Self.uptime() &- started > busyNanoseconds else { return nil }
        return .error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    }

    /// SCRIPT KILL: stops the running script, whose client is answered that it was killed; it wrote nothing.
    func kill() -> RESPValue {
        guard runningSince.load(ordering: .relaxed) != 0, let box = engine else {
            return .error("NOTBUSY No scripts in execution right now.")
        }
        box.engine.interrupt.kill()
        return .ok
    }

    func exists(_ sha: [UInt8]) -> Bool { known.contains(Self.normalized(sha)) }

    func isKnown(_ sha: String) -> Bool { known.contains(sha) }

    /// Records a script the engine has compiled, as of its `flushes`-th flush: one compiled before a SCRIPT FLUSH
    /// that has emptied the cache since is not there any more; if the engine emptied its cache by itself (being
    /// full), the others are gone.
    private func learn(_ sha: String, flushes: Int) {
        guard flushes >= knownFlushes else { return }
        if flushes > knownFlushes {
            known.removeAll()
            knownFlushes = flushes
        }
        known.insert(sha)
    }

    /// SCRIPT FLUSH.
    func flush() {
        known.removeAll()
        knownFlushes += 1
        guard let box = engine else { return }
        thread.submit { _ in box.engine.flush() }
    }

    /// SCRIPT LOAD: compiles `source` and answers its SHA-1, or the compile error.
    func load(_ source: [UInt8], then done: @escaping @Sendable (RESPValue) -> Void) {
        guard let box = engine else { return done(unavailable ?? .null) }
        thread.runIfActive(eventLoop: loop) { (box.engine.load(source), box.engine.flushes) }.whenComplete { result in
            switch result {
            case .success((.success(let sha), let flushes)):
                self.learn(sha, flushes: flushes)
                done(.bulkString(sha))
            case .success((.failure(let error), _)): done(error.reply)
            case .failure(let error): done(.error("ERR \(error)"))
            }
        }
    }

    /// A script to run: its source (EVAL, compiled if new) or its SHA-1 (EVALSHA).
    enum Script: Sendable {
        case source([UInt8])
        case sha(String)
    }

    /// What a script run gives the executor: the working set with the script's writes (unchanged if it failed), its
    /// reply, and whether that reply stands whatever the data (the script was stopped, or never ran): then it is not
    /// run again even though it wrote nothing.
    struct Run: Sendable {
        var workingSet: RedisWorkingSet
        var reply: RESPValue
        var conclusive: Bool
    }

    /// Runs `script` against `workingSet` with `keys` as KEYS and `arguments` as ARGV. Calls `done` on the event loop.
    func run(
        _ script: Script, keys: [[UInt8]], arguments: [[UInt8]], readOnly: Bool, on workingSet: RedisWorkingSet,
        then done: @escaping @Sendable (Run) -> Void
    ) {
        guard let box = engine else {
            return done(Run(workingSet: workingSet, reply: unavailable ?? .null, conclusive: true))
        }
        thread.runIfActive(eventLoop: loop) { () -> (Run, (sha: String, flushes: Int)?) in
            let sha: String
            switch script {
            case .sha(let named): sha = named
            case .source(let source):
                switch box.engine.load(source) {
                case .success(let loaded): sha = loaded
                case .failure(let error):
                    return (Run(workingSet: workingSet, reply: error.reply, conclusive: true), nil)
                }
            }
            self.runningSince.store(Self.uptime(), ordering: .relaxed)
            defer { self.runningSince.store(0, ordering: .relaxed) }
            var written = workingSet
            let declared = Set(keys)
            let outcome = box.engine.run(sha: sha, keys: keys, arguments: arguments) { call in
                written.runFromScript(call, declared: declared, readOnly: readOnly)
            }
            guard let outcome else { return (Run(workingSet: workingSet, reply: Self.noScript, conclusive: true), nil) }
            let run = Run(
                workingSet: outcome.failed ? workingSet : written, reply: outcome.reply, conclusive: outcome.stopped)
            return (run, (sha, box.engine.flushes))
        }.whenComplete { result in
            switch result {
            case .success(let (run, loaded)):
                if let loaded { self.learn(loaded.sha, flushes: loaded.flushes) }
                done(run)
            case .failure(let error):
                done(Run(workingSet: workingSet, reply: .error("ERR \(error)"), conclusive: true))
            }
        }
    }

    static let noScript = RESPValue.error("NOSCRIPT No matching script. Please use EVAL.")

    /// One EVAL, EVALSHA, EVAL_RO or EVALSHA_RO as its arguments give it.
    struct Invocation: Sendable {
        var script: Script
        var keys: [[UInt8]]
        var arguments: [[UInt8]]
        var readOnly: Bool
    }

    /// Reads `command`'s script (source or SHA-1), its numkeys KEYS and its ARGV; Redis's error when numkeys does
    /// not fit.
    static func invocation(of command: RedisCommand) -> Result<Invocation, RedisReplyError> {
        let arguments = command.arguments
        guard arguments.count >= 2, let numberOfKeys = RedisWorkingSet.integer(arguments[1]) else {
            return .failure(RedisReplyError("ERR value is not an integer or out of range"))
        }
        guard numberOfKeys >= 0 else { return .failure(RedisReplyError("ERR Number of keys can't be negative")) }
        guard numberOfKeys <= Int64(arguments.count - 2) else {
            return .failure(RedisReplyError("ERR Number of keys can't be greater than number of args"))
        }
        let keysEnd = 2 + Int(numberOfKeys)
        let script: Script =
            command.name.hasPrefix("EVALSHA") ? .sha(normalized(arguments[0])) : .source(arguments[0])
        return .success(
            Invocation(
                script: script, keys: Array(arguments[2..<keysEnd]), arguments: Array(arguments[keysEnd...]),
                readOnly: command.name.hasSuffix("_RO")))
    }

    /// Runs a parsed invocation; the same as `run` with its parts.
    func run(_ invocation: Invocation, on workingSet: RedisWorkingSet, then done: @escaping @Sendable (Run) -> Void) {
        run(
            invocation.script, keys: invocation.keys, arguments: invocation.arguments, readOnly: invocation.readOnly,
            on: workingSet, then: done)
    }

    /// SHA-1s are matched without regard to case, as Redis matches them.
    static func normalized(_ sha: [UInt8]) -> String { String(decoding: sha, as: UTF8.self).lowercased() }

    private static func uptime() -> UInt64 { max(1, NIODeadline.now().uptimeNanoseconds) }
}
