//! The world's shape beyond its size: what benchmarks vary.

/// The world's shape beyond its size, for benchmarks that vary it; the
/// default is the shape every test and the bench's week are made with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldShape {
    /// Chutes besides the legacy one (default: as many as miners on the
    /// metagraph, at least 12). More chutes, more lines in each
    /// self-report's metrics.
    pub chutes: Option<usize>,
    /// Instances (deployments) per miner (default two to four): each is a
    /// record in the validator's report and in its miner's self-report.
    pub instances_per_miner: Option<usize>,
}
