/// Disjoint key spans, each with a value, in key order: which group owns each range of a range-sharded keyspace,
/// or what a group knows of the ranges it imports and releases. Neighbouring spans with equal values are merged,
/// so that equal maps have one representation.
public struct KeySpanMap<Value: Hashable & Sendable>: Hashable, Sendable {
    public private(set) var pieces: [(span: KeySpan, value: Value)] = []

    public init() {}

    public static func == (a: KeySpanMap, b: KeySpanMap) -> Bool {
        a.pieces.elementsEqual(b.pieces) { $0.span == $1.span && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for piece in pieces {
            hasher.combine(piece.span)
            hasher.combine(piece.value)
        }
    }

    public var isEmpty: Bool { pieces.isEmpty }

    /// The value of the span holding `key`, if any.
    public func value(at key: some Collection<UInt8>) -> Value? {
        // Pieces are sorted and disjoint: find the last that starts at or before the key.
        var low = 0
        var high = pieces.count
        while low < high {
            let middle = (low + high) / 2
            if key.lexicographicallyPrecedes(pieces[middle].span.start) { high = middle } else { low = middle + 1 }
        }
        guard low > 0, pieces[low - 1].span.contains(key) else { return nil }
        return pieces[low - 1].value
    }

    /// `span` cut where this map's pieces begin and end, each part with its value (nil where nothing is set).
    public func parts(of span: KeySpan) -> [(span: KeySpan, value: Value?)] {
        var parts: [(span: KeySpan, value: Value?)] = []
        var position = span.start
        for piece in pieces where piece.span.overlaps(span) {
            if position.lexicographicallyPrecedes(piece.span.start), let gap = KeySpan(start: position, end: piece.span.start) {
                parts.append((gap, nil))
            }
            let start = position.lexicographicallyPrecedes(piece.span.start) ? piece.span.start : position
            let end = KeySpan.endPrecedes(piece.span.end, span.end) ? piece.span.end : span.end
            if let part = KeySpan(start: start, end: end) { parts.append((part, piece.value)) }
            guard let next = end else { return parts }
            position = next
        }
        if KeySpan.precedes(position, span.end), let tail = KeySpan(start: position, end: span.end) {
            parts.append((tail, nil))
        }
        return parts
    }

    /// Sets `span` to `value` (nil: clears it), replacing what it overlapped.
    public mutating func set(_ span: KeySpan, to value: Value?) {
        var next: [(span: KeySpan, value: Value)] = []
        for piece in pieces {
            guard piece.span.overlaps(span) else {
                next.append(piece)
                continue
            }
            if piece.span.start.lexicographicallyPrecedes(span.start),
                let before = KeySpan(start: piece.span.start, end: span.start)
            {
                next.append((before, piece.value))
            }
            if let end = span.end, KeySpan.precedes(end, piece.span.end),
                let after = KeySpan(start: end, end: piece.span.end)
            {
                next.append((after, piece.value))
            }
        }
        if let value { next.append((span, value)) }
        next.sort { $0.span.start.lexicographicallyPrecedes($1.span.start) }
        pieces = []
        for piece in next {
            if let last = pieces.last, last.value == piece.value, last.span.end == piece.span.start {
                pieces[pieces.count - 1].span.end = piece.span.end
            } else {
                pieces.append(piece)
            }
        }
    }
}
