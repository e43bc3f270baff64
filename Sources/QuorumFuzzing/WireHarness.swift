import QuorumWire

/// The frame decoders of the peer and client ports.
enum WireHarness {
    /// A frame limit small enough that the fuzzer reaches it, large enough for every seed.
    static let frameBytesMax = 4 << 10

    /// Cuts frames out of `bytes` as a connection's handler does, until the input runs out or is refused.
    static func frameStream(_ bytes: [UInt8]) throws(FuzzFailure) {
        let decoder = FrameDecoder(frameBytesMax: frameBytesMax)
        var assembler = FrameAssembler(bytesMax: 4 * frameBytesMax)
        var offset = 0
        while offset < bytes.count {
            let rest = Array(bytes[offset...])
            guard case .frame(let frame, let consumed) = try? decoder.decode(rest) else { return }
            guard consumed > 0, consumed <= rest.count, frame.encoded == Array(rest[..<consumed]) else {
                throw FuzzFailure("a frame of \(consumed) bytes does not encode back to the bytes it came from")
            }
            offset += consumed
            if frame.kind == .part {
                guard let whole = try? assembler.add(frame) else { continue }
                try checkFrame(whole)
            } else {
                try checkFrame(frame)
            }
        }
    }

    /// The frame's own decoder; a value it accepts must survive a round trip through its encoder.
    static func checkFrame(_ frame: Frame) throws(FuzzFailure) {
        switch frame.kind {
        case .peerHello:
            try check(frame, PeerHello.init(decoding:), \.frame)
        case .peerMessages:
            try check(frame, PeerMessages.init(decoding:), \.frame)
        case .clientRequest:
            try check(frame, { frame throws(WireError) in try ClientRequest(decoding: frame) }, \.frame)
        case .clientResponse:
            try check(frame, ClientResponse.init(decoding:), \.frame)
        case .membershipNotice:
            try check(frame, MembershipNotice.init(decoding:), \.frame)
        case .membershipQuery:
            try check(frame, MembershipQuery.init(decoding:), \.frame)
        case .publication:
            try check(frame, Publication.init(decoding:), \.frame)
        case .part:
            var assembler = FrameAssembler(bytesMax: 4 * frameBytesMax)
            if let whole = try? assembler.add(frame) { try checkFrame(whole) }
        }
    }

    /// The payload of a hello, notice, query or publication, the first byte saying which.
    static func peerControl(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let selector = bytes.first else { return }
        let kinds: [FrameKind] = [.peerHello, .membershipNotice, .membershipQuery, .publication]
        try checkFrame(Frame(kind: kinds[Int(selector) % kinds.count], payload: Array(bytes.dropFirst())))
    }

    private static func check<Value: Equatable>(
        _ frame: Frame, _ decode: (Frame) throws(WireError) -> Value, _ encode: (Value) -> Frame
    ) throws(FuzzFailure) {
        guard let value = try? decode(frame) else { return }
        try expectRoundTrip(
            value, "\(frame.kind)", encode: { encode($0).payload },
            decode: { payload in try decode(Frame(kind: frame.kind, payload: payload)) })
    }
}
