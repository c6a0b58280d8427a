//! The commit's byte layout: ideal-lab5/timelock's `TLECiphertext` as
//! ark-serialize 0.4 writes it compressed, which is what subtensor reads.
//!
//! ```text
//! U: G2 (96) ‖ v: len u64 LE ‖ 32 ‖ w: len ‖ 32
//!   ‖ body: len ‖ [ciphertext: len ‖ m+16 ‖ nonce: len ‖ 12]
//!   ‖ cipher_suite: len ‖ "AES_GCM_"
//! ```
//!
//! Parsing here is structural only and borrows: every length is checked
//! against what is left before anything is sliced or allocated, so
//! hostile lengths (up to 2^64) cost nothing. Like ark's reader (and so
//! like the chain), bytes after the cipher suite, and after the nonce
//! inside the body, are ignored. Field sizes and the point itself are
//! judged by [`crate::decrypt`].

/// The cipher suite tag the reference writes; the chain does not check it.
pub const CIPHER_SUITE: &[u8] = b"AES_GCM_";

/// Bytes of a ciphertext header's `U` (a compressed G2 point).
pub const U_LEN: usize = crate::bls::PUBLIC_KEY_LEN;

/// Why bytes do not have the commit's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} needs {needed} bytes at offset {offset}, only {available} left")]
pub struct WireError {
    /// The field being read (`U`, `v`, `body.nonce`...).
    pub field: &'static str,
    /// Where in the commit (or in the body, for `body.*`) it starts.
    pub offset: usize,
    /// Bytes the field (or its length prefix) claims.
    pub needed: u64,
    /// Bytes actually left.
    pub available: usize,
}

/// A commit's fields, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit<'a> {
    /// `U = r·g2`, compressed.
    pub u: &'a [u8],
    /// `sigma ⊕ H2(e(identity, pk)^r)`.
    pub v: &'a [u8],
    /// `key ⊕ H4(sigma)`: the AES key, masked.
    pub w: &'a [u8],
    /// AES-256-GCM ciphertext with its 16-byte tag appended.
    pub ciphertext: &'a [u8],
    /// The AES-GCM nonce.
    pub nonce: &'a [u8],
    /// The cipher suite tag.
    pub cipher_suite: &'a [u8],
}

impl<'a> Commit<'a> {
    /// Splits commit bytes into their fields.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        let mut outer = Reader { bytes, offset: 0 };
        let u = outer.take("U", U_LEN as u64)?;
        let v = outer.vec("v")?;
        let w = outer.vec("w")?;
        let body = outer.vec("body")?;
        let cipher_suite = outer.vec("cipher_suite")?;
        let mut inner = Reader {
            bytes: body,
            offset: 0,
        };
        let ciphertext = inner.vec("body.ciphertext")?;
        let nonce = inner.vec("body.nonce")?;
        Ok(Self {
            u,
            v,
            w,
            ciphertext,
            nonce,
            cipher_suite,
        })
    }

    /// The commit's bytes, exactly as the reference serialises them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body_len = 16 + self.ciphertext.len() + self.nonce.len();
        let mut out = Vec::with_capacity(
            self.u.len() + 8 * 4 + self.v.len() + self.w.len() + body_len + self.cipher_suite.len(),
        );
        out.extend_from_slice(self.u);
        put_vec(&mut out, self.v);
        put_vec(&mut out, self.w);
        put_len(&mut out, body_len);
        put_vec(&mut out, self.ciphertext);
        put_vec(&mut out, self.nonce);
        put_vec(&mut out, self.cipher_suite);
        out
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // usize → u64 is lossless on every platform Rust supports.
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn put_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, len: u64) -> Result<&'a [u8], WireError> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let error = WireError {
            field,
            offset: self.offset,
            needed: len,
            available: rest.len(),
        };
        let n = usize::try_from(len).map_err(|_| error.clone())?;
        let taken = rest.get(..n).ok_or(error)?;
        self.offset += n;
        Ok(taken)
    }

    /// An ark `Vec<u8>`: a u64 LE length, then that many bytes.
    fn vec(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let prefix = self.take(field, 8)?;
        let mut len = [0u8; 8];
        len.copy_from_slice(prefix);
        self.take(field, u64::from_le_bytes(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        Commit {
            u: &[1; 96],
            v: &[2; 32],
            w: &[3; 32],
            ciphertext: &[4; 20],
            nonce: &[5; 12],
            cipher_suite: CIPHER_SUITE,
        }
        .to_bytes()
    }

    #[test]
    fn layout_is_the_references() {
        let bytes = sample();
        // 244 + m for an m-byte payload (docs/spec/commit-reveal.md), m = 4.
        assert_eq!(bytes.len(), 248);
        assert_eq!(&bytes[96..104], &32u64.to_le_bytes());
        assert_eq!(&bytes[176..184], &(8 + 20 + 8 + 12u64).to_le_bytes());
        assert_eq!(&bytes[bytes.len() - 8..], CIPHER_SUITE);
        let parsed = Commit::parse(&bytes).unwrap();
        assert_eq!(parsed.to_bytes(), bytes);
        assert_eq!(parsed.nonce, &[5; 12]);
    }

    #[test]
    fn every_truncation_is_refused_with_its_field() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let err = Commit::parse(&bytes[..cut]).unwrap_err();
            assert!((err.available as u64) < err.needed, "cut at {cut}: {err}");
        }
        let err = Commit::parse(&bytes[..100]).unwrap_err();
        assert_eq!(err.field, "v");
        assert_eq!(err.offset, 96);
    }

    #[test]
    fn a_huge_length_prefix_is_refused_without_allocating() {
        let mut bytes = sample();
        bytes[96..104].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = Commit::parse(&bytes).unwrap_err();
        assert_eq!(err.field, "v");
        assert_eq!(err.needed, u64::MAX);
    }
}
