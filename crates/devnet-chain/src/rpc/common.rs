//! What the method modules share: registering a synchronous method, and
//! the blocks a head subscription announces.

use jsonrpsee::server::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::Value;

use crate::beacon::unix_now;
use crate::state::{lock, Shared};

/// Blocks a subscriber is told of when the head jumps far at once: a real
/// node announces the blocks it imports during a major sync sparsely too.
const MAX_BLOCKS_PER_MOVE: u32 = 256;

/// The blocks to announce when the head moves from `last` to `head`: each
/// new one, or the newest [`MAX_BLOCKS_PER_MOVE`] of a long jump.
pub(super) fn new_blocks(last: u32, head: u32) -> std::ops::RangeInclusive<u32> {
    let first = last
        .saturating_add(1)
        .max(head.saturating_sub(MAX_BLOCKS_PER_MOVE - 1));
    first..=head
}

/// Registers a synchronous method answering JSON; under the
/// block-per-request switch a block is produced first.
pub(super) fn method<F>(module: &mut RpcModule<Shared>, name: &'static str, answer: F)
where
    F: Fn(Params<'_>, &Shared) -> Result<Value, ErrorObjectOwned> + Send + Sync + 'static,
{
    module
        .register_method(name, move |p, s, _| {
            {
                let mut state = lock(s);
                if state.block_per_request {
                    state.advance(1, unix_now());
                }
            }
            answer(p, s)
        })
        .expect("unique method");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_jump_announces_only_its_newest_blocks() {
        assert_eq!(new_blocks(1_500, 1_503), 1_501..=1_503);
        assert!(new_blocks(1_503, 1_503).is_empty(), "no move, nothing new");
        let jump = new_blocks(0, 4_800_000);
        assert_eq!(jump.clone().count(), MAX_BLOCKS_PER_MOVE as usize);
        assert_eq!(*jump.end(), 4_800_000);
    }
}
