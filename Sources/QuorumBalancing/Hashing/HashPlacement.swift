/// A structure that maps request keys to backends so that few keys move when the backend set changes.
///
/// A placement is built once per candidate set (``ConsistentHashingPolicy`` rebuilds it when the set changes) and
/// then answers lookups without mutation. It offers, for each key, a *preference order* over the backends: the
/// first is where the key lives; the rest are where it spills when bounded load turns the first away.
public protocol HashPlacement: Sendable {
    associatedtype Configuration: Hashable, Sendable

    /// Builds the placement for `backends` (distinct ids, non-empty).
    init(backends: [Backend], configuration: Configuration)

    /// Walks `key`'s preference order and returns the first backend `accepts` agrees to, or nil if it refuses
    /// every backend. A backend may be offered more than once; every backend is offered at least once.
    func firstBackend(for key: RequestKey, where accepts: (BackendID) -> Bool) -> BackendID?
}

extension HashPlacement {
    /// Where `key` lives when load does not matter.
    public func backend(for key: RequestKey) -> BackendID? {
        firstBackend(for: key) { _ in true }
    }
}
