/// Hash functions fixed for all time and all platforms.
///
/// Consistent hashing only keeps its promise if every proxy computes the same positions, in every process and
/// after every upgrade; Swift's `Hasher` is seeded per process and may change between releases, so it is not used.
enum StableHash {
    /// FNV-1a over the bytes, then ``mix(_:)`` so that similar inputs ("user-1", "user-2") land far apart.
    static func bytes(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return mix(hash)
    }

    /// The SplitMix64 finaliser: a bijection on 64 bits in which every input bit affects every output bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Combines two values into one hash; not symmetric, so (a, b) and (b, a) differ.
    static func combine(_ first: UInt64, _ second: UInt64) -> UInt64 {
        mix(mix(first) ^ (second &* 0xC2B2_AE3D_27D4_EB4F))
    }

    /// A hash mapped to the open interval (0, 1), never exactly 0 or 1, as rendezvous hashing's logarithm needs.
    static func unitInterval(_ hash: UInt64) -> Double {
        (Double(hash >> 11) + 0.5) * 0x1p-53
    }
}
