/// A Redis hash: fields with values, in the order fields were first set (as Redis keeps a small hash, so HGETALL
/// answers alike).
struct RedisHash {
    private(set) var fields: [[UInt8]] = []
    private(set) var values: [[UInt8]] = []
    private var positions: [[UInt8]: Int] = [:]

    init() {}

    init(_ value: RedisTypedValue) throws(RedisTypedValueError) {
        guard value.elements.count % 2 == 0 else { throw .invalid("a hash has a field without a value") }
        for index in stride(from: 0, to: value.elements.count, by: 2) {
            guard positions[value.elements[index]] == nil else { throw .invalid("a hash repeats a field") }
            positions[value.elements[index]] = fields.count
            fields.append(value.elements[index])
            values.append(value.elements[index + 1])
        }
    }

    var typedValue: RedisTypedValue {
        RedisTypedValue(kind: .hash, elements: zip(fields, values).flatMap { [$0, $1] })
    }

    var count: Int { fields.count }

    func value(of field: [UInt8]) -> [UInt8]? { positions[field].map { values[$0] } }

    /// Sets a field; true when it is new.
    @discardableResult
    mutating func set(_ field: [UInt8], _ value: [UInt8]) -> Bool {
        if let position = positions[field] {
            values[position] = value
            return false
        }
        positions[field] = fields.count
        fields.append(field)
        values.append(value)
        return true
    }

    /// Removes a field; true when it was there.
    mutating func remove(_ field: [UInt8]) -> Bool {
        guard let position = positions.removeValue(forKey: field) else { return false }
        fields.remove(at: position)
        values.remove(at: position)
        for index in position..<fields.count { positions[fields[index]] = index }
        return true
    }
}
