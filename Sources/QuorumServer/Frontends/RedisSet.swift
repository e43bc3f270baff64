/// A Redis set: distinct members, in the order they were added.
struct RedisSet {
    private(set) var members: [[UInt8]] = []
    private var present: Set<[UInt8]> = []

    init() {}

    init(_ value: RedisTypedValue) throws(RedisTypedValueError) {
        for member in value.elements {
            guard present.insert(member).inserted else { throw .invalid("a set repeats a member") }
        }
        members = value.elements
    }

    var typedValue: RedisTypedValue { RedisTypedValue(kind: .set, elements: members) }

    var count: Int { members.count }

    func contains(_ member: [UInt8]) -> Bool { present.contains(member) }

    /// Adds a member; true when it is new.
    mutating func insert(_ member: [UInt8]) -> Bool {
        guard present.insert(member).inserted else { return false }
        members.append(member)
        return true
    }

    /// Removes a member; true when it was there.
    mutating func remove(_ member: [UInt8]) -> Bool {
        guard present.remove(member) != nil, let position = members.firstIndex(of: member) else { return false }
        members.remove(at: position)
        return true
    }
}
