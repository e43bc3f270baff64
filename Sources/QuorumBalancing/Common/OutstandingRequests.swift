/// How many requests each backend is serving right now, as told by `requestStarted` / `requestFinished`.
///
/// Counts survive a backend leaving the candidate set (ejected, removed from the registry): its requests in
/// flight still finish, and a count reset on leaving would go negative when they do.
public struct OutstandingRequests: Hashable, Sendable {
    /// Invariant: every stored count is greater than zero; a backend with nothing in flight has no entry.
    private var counts: [BackendID: Int] = [:]

    public init() {}

    /// The number of requests in flight on `backend`.
    public subscript(backend: BackendID) -> Int { counts[backend, default: 0] }

    /// The sum over all backends.
    public private(set) var total = 0

    public mutating func started(on backend: BackendID) {
        counts[backend, default: 0] += 1
        total += 1
    }

    public mutating func finished(on backend: BackendID) {
        guard let count = counts[backend] else {
            preconditionFailure("requestFinished on \(backend) without a matching requestStarted")
        }
        counts[backend] = count > 1 ? count - 1 : nil
        total -= 1
        assert(total >= 0)
    }

    /// The load of a backend relative to its weight, counting the request about to be placed: lower is better.
    /// With equal weights this orders backends exactly as their counts do.
    func weightedLoad(of backend: Backend) -> Double {
        Double(self[backend.id] + 1) / backend.weight.rawValue
    }
}
