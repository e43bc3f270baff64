import QuorumCodec

/// A frame too large for the receiver's frame limit (a snapshot, mostly) travels as parts that each fit, one
/// after another on one connection; `FrameAssembler` puts them back together. So the frame limit bounds what one
/// read may allocate, not how large a state can be sent.
///
///     part payload: version u8 = 1 | whole frame's kind u8 | whole payload's length u64 | offset u64 | bytes
public enum FrameParts {
    public static let headerBytes = 18

    /// `frame` as it may be sent to a receiver whose limit is `frameBytesMax`: itself if it fits, else its parts.
    public static func split(_ frame: Frame, frameBytesMax: Int) -> [Frame] {
        guard frame.payload.count > frameBytesMax else { return [frame] }
        precondition(frameBytesMax > headerBytes, "a frame limit of \(frameBytesMax) bytes leaves no room for parts")
        let partBytes = frameBytesMax - headerBytes
        return stride(from: 0, to: frame.payload.count, by: partBytes).map { offset in
            var writer = ByteWriter(capacity: frameBytesMax)
            writer.write(UInt8(1))
            writer.write(frame.kind.rawValue)
            writer.write(UInt64(frame.payload.count))
            writer.write(UInt64(offset))
            writer.write(contentsOf: frame.payload[offset..<min(offset + partBytes, frame.payload.count)])
            return Frame(kind: .part, payload: writer.bytes)
        }
    }
}

/// Puts the parts of one frame back together (`FrameParts`). Parts must come in order, each continuing the one
/// before, and the whole may be at most `bytesMax`, checked from the first part.
public struct FrameAssembler: Sendable {
    public let bytesMax: Int
    private var kind: FrameKind?
    private var total = 0
    private var assembled: [UInt8] = []

    public init(bytesMax: Int) { self.bytesMax = bytesMax }

    /// Adds `part`; returns the whole frame once its last part is in.
    public mutating func add(_ part: Frame) throws(WireError) -> Frame? {
        guard part.kind == .part else { throw .malformed("expected a frame part, got \(part.kind)") }
        var reader = ByteReader(part.payload)
        do throws(DecodingFailure) {
            let version = try reader.readByte("part version")
            guard version == 1 else { throw .unsupportedVersion(what: "frame part", version: version) }
            let kindByte = try reader.readByte("part kind")
            guard let wholeKind = FrameKind(rawValue: kindByte), wholeKind != .part else {
                throw .invalid(field: "part kind", value: UInt64(kindByte))
            }
            let wholeBytes = try reader.read(UInt64.self, "whole length")
            let offset = try reader.read(UInt64.self, "part offset")
            let bytes = try reader.readBytes(count: UInt64(reader.remaining), "part bytes")
            if let kind {
                guard wholeKind == kind, wholeBytes == UInt64(total), offset == UInt64(assembled.count) else {
                    throw .inconsistent("a part that does not continue the frame being assembled")
                }
            } else {
                guard offset == 0, wholeBytes <= UInt64(bytesMax) else {
                    throw .inconsistent("a first part at offset \(offset) of \(wholeBytes) bytes (limit \(bytesMax))")
                }
                kind = wholeKind
                total = Int(wholeBytes)
                // A claimed length is only a claim: reserve for the first parts, and let later ones grow it.
                assembled.reserveCapacity(min(total, 64 << 20))
            }
            guard !bytes.isEmpty, assembled.count + bytes.count <= total else {
                throw .inconsistent("a part that overruns the frame's length")
            }
            assembled += bytes
        } catch {
            throw .malformed(error.description)
        }
        guard assembled.count == total, let kind else { return nil }
        defer {
            self.kind = nil
            assembled = []
        }
        return Frame(kind: kind, payload: assembled)
    }
}
