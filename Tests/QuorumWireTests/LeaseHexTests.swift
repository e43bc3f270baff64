import QuorumStore
import QuorumWire
import Testing

@Suite("Lease ids in hex, as the HTTP API spells them")
struct LeaseHexTests {
    @Test(
        "a lease id parses from its hex spelling, with or without 0x",
        arguments: ["ff", "0xff", "0XFF", "00000000000000ff"])
    func parses(text: String) {
        #expect(LeaseID(hex: text[...]) == LeaseID(255))
    }

    /// Zero is "no lease" on the wire: a PUT naming it would have stored its key without a lease.
    @Test(
        "zero, a sign, too many digits or none are refused",
        arguments: ["0", "0x0", "+ff", "-0", "0x-0", "", "0x", "1ffffffffffffffff", "fg"])
    func refuses(text: String) {
        #expect(LeaseID(hex: text[...]) == nil)
    }

    @Test("hex(_:) spells what init(hex:) parses")
    func roundTrip() {
        for raw: UInt64 in [1, 0xabc, UInt64.max] {
            #expect(LeaseID(hex: LeaseID.hex(LeaseID(raw))[...]) == LeaseID(raw))
        }
    }
}
