//! Bytes made readable for the tools: keys and values as text when every
//! byte is printable ASCII, as `0x`-prefixed hex otherwise; internal keys as
//! `user_key@seq:Kind`. Sizes print through [`crate::units::human_bytes`].

use std::fmt::Write as _;

use lsm_core::parse_internal_key;

/// `bytes` as text when non-empty, printable ASCII (`0x20..=0x7e`) and not
/// itself starting with `0x`; as `0x` + lowercase hex otherwise; `""` when
/// empty. The result never contains a tab or a newline.
pub(crate) fn bytes_text(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "\"\"".to_string();
    }
    let printable = bytes.iter().all(|b| (0x20..=0x7e).contains(b));
    if printable && !bytes.starts_with(b"0x") {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!("0x{}", hex(bytes))
    }
}

/// A tree key (keyspace prefix + user key) as its user key through
/// [`bytes_text`] for the default keyspace, and as `ks<id>/<user key>` for
/// any other (keyspace 1 is the keyspace catalog).
pub(crate) fn tree_key_text(tree_key: &[u8]) -> String {
    match lsm_core::keyspace::split_tree_key(tree_key) {
        Some((keyspace, user_key)) if keyspace == lsm_core::KeyspaceId::DEFAULT => {
            bytes_text(user_key)
        }
        Some((keyspace, user_key)) => format!("ks{keyspace}/{}", bytes_text(user_key)),
        None => format!("0x{} (no keyspace prefix)", hex(tree_key)),
    }
}

/// At most `max` bytes of `bytes` through [`bytes_text`], with `...` when
/// cut.
pub(crate) fn preview(bytes: &[u8], max: usize) -> String {
    match bytes.get(..max) {
        Some(head) if head.len() < bytes.len() => format!("{}...", bytes_text(head)),
        _ => bytes_text(bytes),
    }
}

/// An encoded internal key as `user_key@seq:Kind`, or its hex with a note
/// when it does not parse.
pub(crate) fn internal_key_text(encoded: &[u8]) -> String {
    match parse_internal_key(encoded) {
        Some(parsed) => format!(
            "{}@{}:{:?}",
            tree_key_text(parsed.user_key),
            parsed.seq,
            parsed.kind
        ),
        None => format!("0x{} (not an internal key)", hex(encoded)),
    }
}

/// Lowercase hex, two digits a byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Parses hex digits (an optional `0x` prefix, even length) into bytes.
pub(crate) fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        anyhow::bail!("{text:?} is not hex: it has an odd number of digits");
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| anyhow::anyhow!("{text:?} is not hex"))
        })
        .collect()
}

/// `count` and `noun`, plural unless `count` is 1: `1 table`, `3 tables`.
pub(crate) fn counted(count: impl Into<u64>, noun: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, ValueKind};

    #[test]
    fn printable_keys_are_text_and_others_hex() {
        assert_eq!(bytes_text(b"apple 1"), "apple 1");
        assert_eq!(tree_key_text(b"\0apple"), "apple");
        assert_eq!(tree_key_text(b"\x05apple"), "ks5/apple");
        assert_eq!(tree_key_text(&[0x80]), "0x80 (no keyspace prefix)");
        assert_eq!(bytes_text(b"a\tb"), "0x610962");
        assert_eq!(bytes_text(&[0, 255]), "0x00ff");
        assert_eq!(bytes_text(b""), "\"\"");
        assert_eq!(
            bytes_text(b"0x12"),
            "0x30783132",
            "text that looks like hex"
        );
    }

    #[test]
    fn previews_are_cut_and_marked() {
        assert_eq!(preview(b"abcdef", 3), "abc...");
        assert_eq!(preview(b"abc", 3), "abc");
    }

    #[test]
    fn internal_keys_show_seq_and_kind() {
        let key = InternalKey::new(b"\0k1", 42, ValueKind::Delete);
        assert_eq!(internal_key_text(key.as_bytes()), "k1@42:Delete");
        assert!(internal_key_text(b"abc").contains("not an internal key"));
    }

    #[test]
    fn hex_roundtrips_and_rejects_garbage() {
        assert_eq!(parse_hex("0x00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(parse_hex(&hex(b"key")).unwrap(), b"key");
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }

    #[test]
    fn counts_are_plural_unless_one() {
        assert_eq!(counted(1u64, "table"), "1 table");
        assert_eq!(counted(0u64, "table"), "0 tables");
        assert_eq!(counted(12u32, "record"), "12 records");
    }
}
