/// Everything the balancing library refuses. Each description says what was wrong and what to do.
///
/// A struct over a private enum (as NIO and Hummingbird do), so that cases can be added without breaking callers
/// that switch over them; compare with the static members.
public struct BalancingError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidWeight(Double)
        case duplicateBackend(BackendID)
        case invalidConfiguration(String)
    }

    private let code: Code
    private init(_ code: Code) { self.code = code }

    /// A weight that is zero, negative, infinite or not a number.
    public static func invalidWeight(_ value: Double) -> BalancingError { BalancingError(.invalidWeight(value)) }
    /// The same backend id appears twice in one backend set.
    public static func duplicateBackend(_ id: BackendID) -> BalancingError { BalancingError(.duplicateBackend(id)) }
    /// A configuration value out of its range; the reason names the field and the range.
    public static func invalidConfiguration(_ reason: String) -> BalancingError {
        BalancingError(.invalidConfiguration(reason))
    }

    public var description: String {
        switch code {
        case .invalidWeight(let value):
            "weight \(value) is not usable; give a finite weight greater than zero (1 is the usual default)"
        case .duplicateBackend(let id):
            "\(id) appears more than once in the backend set; register each instance once, under its own id"
        case .invalidConfiguration(let reason):
            "invalid balancing configuration: \(reason)"
        }
    }
}
