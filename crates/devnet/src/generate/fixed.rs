//! What every generated world shares: its validator, the legacy public
//! chute, and the block clock its entries are committed on.

/// //Alice on prefix 42: the generated world's validator hotkey. Its dev
/// seed is the well-known `//Alice` derivation.
pub const VALIDATOR_HOTKEY: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// Always treated as public by the scoring rules.
pub const LEGACY_CHUTE: &str = "561e4875-254d-588f-a36f-57c9cdef8961";
pub(super) const FIRST_BLOCK: u32 = 4_800_000;
pub(crate) const BLOCKS_PER_HOUR: u32 = 300;
