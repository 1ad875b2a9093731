import Foundation

/// The Wilson score interval of a proportion: unlike p ± 1.96 σ it stays inside [0, 1] and is
/// honest at 0 or n successes, which small labelled sets hit often.
public enum Wilson {
    /// Lower and upper bound for `successes` of `trials` (z = 1.96: 95%); [0, 1] for no trials.
    public static func interval(_ successes: Int, _ trials: Int, z: Double = 1.96) -> (lower: Double, upper: Double) {
        guard trials > 0 else { return (0, 1) }
        let p = Double(successes) / Double(trials), n = Double(trials), z2 = z * z
        let center = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        return (max(0, center - half), min(1, center + half))
    }
}
