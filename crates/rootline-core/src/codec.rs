//! One bounded reader for every untrusted byte string rootline parses.
//!
//! Modelled on rustls `msgs/codec.rs`: every read checks the remaining length
//! first, so a hostile length field can never make us allocate or slice past
//! the input. Errors name the field that could not be read.

use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended before a field was complete.
    #[error("truncated {field} at offset {offset}: need {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Offset of the field in the input.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes remained after the structure ended.
    #[error("{count} trailing bytes after {what} at offset {offset}")]
    Trailing {
        /// The structure that ended.
        what: &'static str,
        /// Where the trailing bytes start.
        offset: usize,
        /// How many bytes trail.
        count: usize,
    },
    /// A reserved field was not zero.
    #[error("reserved field {field} at offset {offset} is not zero")]
    ReservedNonZero {
        /// The reserved field.
        field: &'static str,
        /// Its offset.
        offset: usize,
    },
    /// A field had a value the format forbids.
    #[error("invalid {field} at offset {offset}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its offset.
        offset: usize,
        /// Why the value is invalid.
        reason: String,
    },
}

/// A cursor over untrusted bytes that never reads past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the outermost input, so errors name absolute offsets.
    base: usize,
}

macro_rules! int_readers {
    ($($name:ident, $ty:ty, $from:ident;)*) => {$(
        #[doc = concat!("Reads a `", stringify!($ty), "` (", stringify!($from), ").")]
        pub fn $name(&mut self, field: &'static str) -> Result<$ty, CodecError> {
            let bytes = self.array::<{ std::mem::size_of::<$ty>() }>(field)?;
            Ok(<$ty>::$from(bytes))
        }
    )*};
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// Offset of the next byte, from the start of the outermost input.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Takes `len` bytes, checking the length before touching anything.
    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], CodecError> {
        let available = self.remaining();
        if len > available {
            return Err(CodecError::Truncated {
                field,
                offset: self.offset(),
                needed: len,
                available,
            });
        }
        let out = self
            .buf
            .get(self.pos..self.pos + len)
            .ok_or(CodecError::Truncated {
                field,
                offset: self.offset(),
                needed: len,
                available,
            })?;
        self.pos += len;
        Ok(out)
    }

    /// Takes `len` bytes as a sub-reader whose errors keep absolute offsets.
    pub fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, CodecError> {
        let base = self.offset();
        let buf = self.take(len, field)?;
        Ok(Reader { buf, pos: 0, base })
    }

    /// Takes all remaining bytes.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.peek_rest();
        self.pos = self.buf.len();
        out
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Skips `len` bytes that must all be zero.
    pub fn reserved_zero(&mut self, len: usize, field: &'static str) -> Result<(), CodecError> {
        let offset = self.offset();
        let s = self.take(len, field)?;
        if s.iter().any(|b| *b != 0) {
            return Err(CodecError::ReservedNonZero { field, offset });
        }
        Ok(())
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(CodecError::Trailing {
                what,
                offset: self.offset(),
                count,
            }),
        }
    }

    /// Builds an [`CodecError::Invalid`] at the current offset.
    pub fn invalid(&self, field: &'static str, reason: impl Into<String>) -> CodecError {
        CodecError::Invalid {
            field,
            offset: self.offset(),
            reason: reason.into(),
        }
    }

    int_readers! {
        u8, u8, from_le_bytes;
        u16_le, u16, from_le_bytes;
        u32_le, u32, from_le_bytes;
        u64_le, u64, from_le_bytes;
        u16_be, u16, from_be_bytes;
        u32_be, u32, from_be_bytes;
        u64_be, u64, from_be_bytes;
    }

    /// Reads a little-endian u32 length, then that many bytes.
    pub fn vec_u32_le(&mut self, field: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.u32_le(field)? as usize;
        self.take(len, field)
    }

    /// Reads a big-endian u16 length, then that many bytes (TPM2B_*).
    pub fn vec_u16_be(&mut self, field: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.u16_be(field)? as usize;
        self.take(len, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_length_is_truncation_not_allocation() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        let err = r.vec_u32_le("event data").unwrap_err();
        assert_eq!(
            err,
            CodecError::Truncated {
                field: "event data",
                offset: 4,
                needed: u32::MAX as usize,
                available: 2
            }
        );
    }

    #[test]
    fn sub_reader_reports_absolute_offsets() {
        let data = [0u8, 0, 0, 1, 2];
        let mut r = Reader::new(&data);
        r.take(2, "x").unwrap();
        let mut s = r.sub(2, "inner").unwrap();
        s.u8("a").unwrap();
        assert_eq!(s.offset(), 3);
        let e = s.u16_le("b").unwrap_err();
        assert!(matches!(e, CodecError::Truncated { offset: 3, .. }));
        assert_eq!(r.remaining(), 1);
    }

    #[test]
    fn reserved_and_trailing_are_errors() {
        let mut r = Reader::new(&[0, 1, 7]);
        assert!(matches!(
            r.reserved_zero(2, "rsvd"),
            Err(CodecError::ReservedNonZero {
                field: "rsvd",
                offset: 0
            })
        ));
        assert!(matches!(
            r.finish("thing"),
            Err(CodecError::Trailing {
                count: 1,
                offset: 2,
                ..
            })
        ));
        assert_eq!(r.u8("last").unwrap(), 7);
        assert!(r.finish("thing").is_ok());
    }
}
