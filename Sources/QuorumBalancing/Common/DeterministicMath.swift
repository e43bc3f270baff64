/// Natural logarithm and exponential computed from basic IEEE operations only.
///
/// The pure modules do not import Foundation's maths, and even where they could, the platform `libm` may round
/// differently on macOS and Linux; rendezvous hashing must place a key identically on both, and a simulation must
/// replay bit for bit. Accuracy is a few units in the last place, far more than balancing needs.
enum DeterministicMath {
    static let ln2 = 0.693_147_180_559_945_3

    /// ln(x) for finite x > 0.
    static func naturalLog(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "naturalLog needs a finite positive argument")
        // x = m · 2^e with m in [1, 2); move m to [√½, √2) so the series below converges fast.
        var exponent = Double(x.exponent)
        var mantissa = x.significand
        if mantissa > 1.414_213_562_373_095 {
            mantissa /= 2
            exponent += 1
        }
        // ln(m) = 2·atanh(s) with s = (m − 1)/(m + 1), |s| < 0.172: 2(s + s³/3 + s⁵/5 + …).
        let s = (mantissa - 1) / (mantissa + 1)
        let s2 = s * s
        var term = s
        var sum = 0.0
        var denominator = 1.0
        for _ in 0..<12 {
            sum += term / denominator
            term *= s2
            denominator += 2
        }
        return 2 * sum + exponent * ln2
    }

    /// e^x; returns 0 for very negative x and +infinity for very large x.
    static func exponential(_ x: Double) -> Double {
        if x < -745 { return 0 }
        if x > 709 { return .infinity }
        // x = k·ln2 + r with |r| ≤ ln2/2, so e^x = 2^k · e^r and the Taylor series for e^r converges quickly.
        let k = (x / ln2).rounded()
        let r = x - k * ln2
        var term = 1.0
        var sum = 1.0
        for n in 1...18 {
            term *= r / Double(n)
            sum += term
        }
        return Double(sign: .plus, exponent: Int(k), significand: sum)
    }
}
