import ArgumentParser
import Pipeline

/// The flags `generate` and `batch` share: the candidates, attempts and tokens a task gets, and
/// the seed, each over the config file's and environment's settings.
struct GenerateBudgetOptions: ParsableArguments {
    @Option(help: "Candidates sampled per attempt (default \(GenerateOptions().candidates)).") var candidates: Int?
    @Option(help: "Attempts at most, the first plus repairs (default \(GenerateOptions().maxAttempts)).") var maxAttempts: Int?
    @Option(help: "Tokens per candidate at most (default 256; config `maxTokens`, env ELIXIR_CODER_MAX_TOKENS).") var maxTokens: Int?
    @Option(help: "Random seed (default 0; config `seed`, env ELIXIR_CODER_SEED).") var seed: UInt64?

    func validate() throws {
        guard (candidates ?? 1) >= 1, (maxAttempts ?? 1) >= 1, (maxTokens ?? 1) >= 1 else {
            throw ValidationError("--candidates, --max-attempts and --max-tokens must be at least 1")
        }
    }

    /// Puts the flags that were given over `options`.
    func apply(to options: inout GenerateOptions) {
        options.candidates = candidates ?? options.candidates
        options.maxAttempts = maxAttempts ?? options.maxAttempts
        options.maxTokens = maxTokens ?? options.maxTokens
        options.sampling.seed = seed ?? options.sampling.seed
    }
}
