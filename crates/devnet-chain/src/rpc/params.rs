//! Parameters read as a Substrate node reads them: hex bytes and block
//! hashes as `0x` strings, block numbers as numbers or hex strings, and a
//! wrong one an "Invalid params" error (-32602) naming what is wrong.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::Value;

/// The error jsonrpsee gives for parameters that do not deserialize.
pub(crate) fn invalid(detail: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, "Invalid params", Some(detail.into()))
}

/// Hex bytes, with or without `0x`, as Substrate's `Bytes` reads them.
pub(crate) fn bytes(text: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|e| invalid(format!("{text:?} is not hex: {e}")))
}

/// A 32-byte block hash.
pub(crate) fn hash(text: &str) -> Result<[u8; 32], ErrorObjectOwned> {
    bytes(text)?
        .try_into()
        .map_err(|_| invalid(format!("{text:?} is not a 32-byte hash")))
}

/// An optional block hash (`None` means the best block).
pub(crate) fn at(text: Option<String>) -> Result<Option<[u8; 32]>, ErrorObjectOwned> {
    text.as_deref().map(hash).transpose()
}

/// A block number: a non-negative integer or a `0x` hex string
/// (Substrate's `NumberOrHex`); above `u32::MAX` it is the chain module's
/// error 3001, as a node whose database limits numbers to u32 answers.
pub(crate) fn block_number(value: &Value) -> Result<u32, ErrorObjectOwned> {
    let wide: u128 = match value {
        Value::Number(n) => n
            .as_u64()
            .map(u128::from)
            .ok_or_else(|| invalid(format!("{n} is not a block number")))?,
        Value::String(s) => {
            let digits = s
                .strip_prefix("0x")
                .ok_or_else(|| invalid(format!("{s:?} is not a 0x hex number")))?;
            u128::from_str_radix(digits, 16)
                .map_err(|e| invalid(format!("{s:?} is not a hex number: {e}")))?
        }
        other => return Err(invalid(format!("{other} is not a block number"))),
    };
    u32::try_from(wide).map_err(|_| {
        ErrorObjectOwned::owned(
            3001,
            format!("`{wide}` > u32::MAX, the max block number is u32."),
            None::<()>,
        )
    })
}
