//! The value format shared by the bindings (`docs/value-format.md`): a
//! one-byte type tag in front of every value, so that a value written by
//! Python, Node.js, Go or Rust comes back with its type in any of them
//! (through one Redis, for example).
//!
//! | tag | payload | [`Tagged`] |
//! |---|---|---|
//! | `b` | the bytes | `Bytes` |
//! | `s` | UTF-8 text | `Str` |
//! | `c` | a codec's output; JSON is the one codec every binding shares | `Json` (the JSON text, unparsed) |
//! | `i` | int64, 8 bytes little-endian | `Int` |
//! | `I` | two's complement, little-endian, any length | `BigInt` (the payload) |
//! | `d` | IEEE 754 double, 8 bytes little-endian | `Float` |
//! | `T` / `F` | none | `Bool` |
//! | `N` | none | `Null` |
//!
//! Anything else (an empty value, an unknown tag, a payload of the wrong
//! size, an `s` payload that is not UTF-8) was not written by a libcache
//! binding: [`Tagged::decode`] returns a [`FormatError`]. The crate does not
//! parse JSON itself: pass `Json`'s text to `serde_json` (or any parser).
//!
//! ```
//! use libcache::format::Tagged;
//! use libcache::Cache;
//!
//! let cache = Cache::builder().build()?;
//! cache.insert(b"greeting", &Tagged::Str("héllo").encode())?;   // Python reads a str
//! cache.insert(b"cfg", &Tagged::Json(br#"{"n":1}"#).encode())?;  // codec="json" reads a dict
//! let v = cache.get(b"greeting").unwrap();
//! assert_eq!(Tagged::decode(&v)?, Tagged::Str("héllo"));
//! assert_eq!(Tagged::decode(b"i\x2a\0\0\0\0\0\0\0")?, Tagged::Int(42)); // Python's 42
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

/// A tagged value, borrowing its payload from the bytes it was decoded from
/// (or from the caller, to encode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tagged<'a> {
    /// `b`: bytes (Python `bytes`, Node `Buffer`).
    Bytes(&'a [u8]),
    /// `s`: text (Python `str`, Node `string`).
    Str(&'a str),
    /// `c`: a codec's output; the JSON text when the writer used the JSON
    /// codec (Python `codec="json"`, Node `codec: "json"`).
    Json(&'a [u8]),
    /// `i`: a 64-bit integer (Python `int`).
    Int(i64),
    /// `I`: an integer beyond 64 bits, two's complement, little-endian.
    BigInt(&'a [u8]),
    /// `d`: a double (Python `float`).
    Float(f64),
    /// `T` / `F`: a boolean.
    Bool(bool),
    /// `N`: Python's `None`, Node's `null`.
    Null,
}

/// Why bytes are not a tagged value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The value is empty: there is no tag.
    Empty,
    /// The first byte is not a known tag.
    UnknownTag(u8),
    /// The payload's size does not fit the tag (`i`, `d`: 8 bytes; `T`, `F`,
    /// `N`: none; `I`: at least one).
    BadLength {
        /// The tag.
        tag: u8,
        /// The payload's length.
        len: usize,
    },
    /// An `s` payload that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Empty => f.write_str("an empty value has no type tag (not written by a libcache binding)"),
            FormatError::UnknownTag(t) => write!(
                f,
                "unknown type tag {:?} (not written by a libcache binding)",
                *t as char
            ),
            FormatError::BadLength { tag, len } => {
                write!(f, "a {:?} value cannot have a {len}-byte payload", *tag as char)
            }
            FormatError::NotUtf8 => f.write_str("an 's' (string) value whose payload is not UTF-8"),
        }
    }
}

impl std::error::Error for FormatError {}

impl<'a> Tagged<'a> {
    /// The type tag byte.
    pub fn tag(&self) -> u8 {
        match self {
            Tagged::Bytes(_) => b'b',
            Tagged::Str(_) => b's',
            Tagged::Json(_) => b'c',
            Tagged::Int(_) => b'i',
            Tagged::BigInt(_) => b'I',
            Tagged::Float(_) => b'd',
            Tagged::Bool(true) => b'T',
            Tagged::Bool(false) => b'F',
            Tagged::Null => b'N',
        }
    }

    /// Appends the encoded value (tag, then payload) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            Tagged::Bytes(b) | Tagged::Json(b) | Tagged::BigInt(b) => out.extend_from_slice(b),
            Tagged::Str(s) => out.extend_from_slice(s.as_bytes()),
            Tagged::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
            Tagged::Float(d) => out.extend_from_slice(&d.to_le_bytes()),
            Tagged::Bool(_) | Tagged::Null => {}
        }
    }

    /// The encoded value: tag, then payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9);
        self.encode_into(&mut out);
        out
    }

    /// Decodes a value written by any binding, borrowing its payload.
    pub fn decode(bytes: &'a [u8]) -> Result<Tagged<'a>, FormatError> {
        let (&tag, payload) = bytes.split_first().ok_or(FormatError::Empty)?;
        let bad = || FormatError::BadLength {
            tag,
            len: payload.len(),
        };
        let fixed8 = || <[u8; 8]>::try_from(payload).map_err(|_| bad());
        Ok(match tag {
            b'b' => Tagged::Bytes(payload),
            b's' => Tagged::Str(std::str::from_utf8(payload).map_err(|_| FormatError::NotUtf8)?),
            b'c' => Tagged::Json(payload),
            b'i' => Tagged::Int(i64::from_le_bytes(fixed8()?)),
            b'I' if !payload.is_empty() => Tagged::BigInt(payload),
            b'd' => Tagged::Float(f64::from_le_bytes(fixed8()?)),
            b'T' | b'F' | b'N' if !payload.is_empty() => return Err(bad()),
            b'T' => Tagged::Bool(true),
            b'F' => Tagged::Bool(false),
            b'N' => Tagged::Null,
            b'I' => return Err(bad()),
            other => return Err(FormatError::UnknownTag(other)),
        })
    }

    /// A `BigInt` payload (or an `Int`) as an `i128`, when it fits.
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            Tagged::Int(i) => Some(i128::from(i)),
            Tagged::BigInt(b) if b.len() <= 16 => {
                let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                    0xff
                } else {
                    0
                };
                let mut buf = [fill; 16];
                buf[..b.len()].copy_from_slice(b);
                Some(i128::from_le_bytes(buf))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_tag() {
        let values = [
            Tagged::Bytes(b"\x00\xffrust"),
            Tagged::Bytes(b""),
            Tagged::Str("héllo ✓"),
            Tagged::Json(br#"{"list":[1,2.5,null,true],"s":"x"}"#),
            Tagged::Int(-42),
            Tagged::Int(i64::MAX),
            Tagged::BigInt(&[0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Tagged::Float(2.5),
            Tagged::Bool(true),
            Tagged::Bool(false),
            Tagged::Null,
        ];
        for v in values {
            let enc = v.encode();
            assert_eq!(enc[0], v.tag());
            assert_eq!(Tagged::decode(&enc), Ok(v), "{enc:?}");
        }
    }

    #[test]
    fn matches_the_python_encoding() {
        // What libcache's Python binding stores for b"\x00\xffpy", "é", 42, 2.5, True, None.
        assert_eq!(Tagged::Bytes(b"\x00\xffpy").encode(), b"b\x00\xffpy");
        assert_eq!(Tagged::Str("é").encode(), b"s\xc3\xa9");
        assert_eq!(Tagged::Int(42).encode(), b"i\x2a\0\0\0\0\0\0\0");
        assert_eq!(Tagged::Float(2.5).encode(), b"d\0\0\0\0\0\0\x04\x40");
        assert_eq!(Tagged::Bool(true).encode(), b"T");
        assert_eq!(Tagged::Null.encode(), b"N");
        // Python: (2**64).to_bytes(9, "little", signed=True)
        assert_eq!(
            Tagged::decode(b"I\0\0\0\0\0\0\0\0\x01").unwrap().as_i128(),
            Some(1i128 << 64)
        );
        assert_eq!(Tagged::decode(b"I\xff").unwrap().as_i128(), Some(-1));
    }

    #[test]
    fn refuses_what_no_binding_wrote() {
        assert_eq!(Tagged::decode(b""), Err(FormatError::Empty));
        assert_eq!(Tagged::decode(b"x123"), Err(FormatError::UnknownTag(b'x')));
        assert_eq!(
            Tagged::decode(b"i\x01\x02"),
            Err(FormatError::BadLength { tag: b'i', len: 2 })
        );
        assert_eq!(Tagged::decode(b"d"), Err(FormatError::BadLength { tag: b'd', len: 0 }));
        assert_eq!(Tagged::decode(b"Tx"), Err(FormatError::BadLength { tag: b'T', len: 1 }));
        assert_eq!(Tagged::decode(b"I"), Err(FormatError::BadLength { tag: b'I', len: 0 }));
        assert_eq!(Tagged::decode(b"s\xff"), Err(FormatError::NotUtf8));
        assert!(FormatError::UnknownTag(b'x').to_string().contains("'x'"));
    }
}
