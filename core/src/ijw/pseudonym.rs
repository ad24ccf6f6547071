//! The case id of a young person in iJw messages: `HMAC-SHA256(secret, BSN)`, encoded short
//! and readable (DESIGN.md, "iJw intake"). The same BSN gives the same id in every message;
//! without the secret the id cannot be turned back into the BSN, not even by trying all
//! 10^9 of them.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::Bsn;

/// Crockford's base 32: no I, L, O or U, so an id read aloud or typed is not mistaken.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `P-` and 12 characters in groups of four (60 bits): `P-7K3M-Q9XD-2HRT`. The groups keep
/// digit runs short, so an id never looks like a BSN (nine digits in a row).
pub fn case_id(secret: &[u8], bsn: &Bsn) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(bsn.digits());
    format!("P-{}", readable(&mac.finalize().into_bytes(), 12))
}

/// A readable id made of `parts`: the same parts give the same id (for event ids of iJw
/// products, which must be the same when a message is sent twice).
pub fn digest_id(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    format!("{prefix}-{}", readable(&hasher.finalize(), 16))
}

/// The first `chars` × 5 bits of `bytes` in the alphabet, a dash after every four.
fn readable(bytes: &[u8], chars: usize) -> String {
    let mut out = String::with_capacity(chars + chars / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut bytes = bytes.iter();
    for i in 0..chars {
        while bits < 5 {
            buffer = (buffer << 8) | u32::from(*bytes.next().unwrap_or(&0));
            bits += 8;
        }
        bits -= 5;
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bsn_gives_the_same_short_id_and_another_secret_another() {
        let bsn = Bsn::parse("111222333").unwrap();
        let id = case_id(b"geheim", &bsn);
        assert_eq!(id, case_id(b"geheim", &Bsn::parse("111222333").unwrap()));
        assert_ne!(id, case_id(b"ander geheim", &bsn));
        assert_ne!(id, case_id(b"geheim", &Bsn::parse("123456782").unwrap()));
        assert_eq!(id.len(), 16);
        assert!(id.starts_with("P-"));
        assert!(!crate::event::has_bsn_like_number(&id));
        assert!(!id.contains("111222333"));
    }

    /// Pinned: an id must not change between versions, or a young person would get a second
    /// case.
    #[test]
    fn the_encoding_is_stable() {
        assert_eq!(readable(&[0xFF; 8], 12), "ZZZZ-ZZZZ-ZZZZ");
        assert_eq!(readable(&[0; 8], 12), "0000-0000-0000");
        assert_eq!(
            readable(&[0x08, 0x42, 0x10, 0x84, 0x21, 0x08, 0x42, 0x10], 12),
            "1111-1111-1111"
        );
    }
}
