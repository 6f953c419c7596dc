//! Format headers for Picket's positional binary records (postcard: the sensor's spool files,
//! the controller's analysis log). Postcard stores fields by position, so a field added to a
//! record, or to any type it holds, changes how every stored record decodes. Each record
//! therefore starts with a 4-byte magic and a format version; a reader decodes each version
//! it knows with that version's types. Records written before headers existed have none:
//! they are version 0, whose body is the version-1 body (a headerless record can never start
//! with a magic: each magic is chosen so that its first bytes are not a plausible start of
//! that record). [`Header::decode`] reads a postcard record of the current version and says
//! why it could not (a newer or earlier version, a torn record).

/// The header of one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub magic: [u8; 4],
    /// The version this build writes.
    pub version: u8,
}

/// A record whose header was cut short (the magic without its version byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// Why [`Header::decode`] gave no record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record cut short inside its header")]
    Truncated,
    /// Written by a newer build (after a downgrade).
    #[error("record format {0} was written by a newer version")]
    Newer(u8),
    /// An earlier version this build reads through a frozen copy of its types, if at all.
    #[error("record format {0} is an earlier one")]
    Older(u8),
    /// Not a record of this layout: torn, or bytes left over after it.
    #[error("{0}")]
    Corrupt(String),
}

impl Header {
    /// A buffer holding the header, to append the body to.
    pub fn start(&self, capacity: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(capacity.max(5));
        out.extend_from_slice(&self.magic);
        out.push(self.version);
        out
    }

    /// The record's format version and its body: version 0 and the whole record when it has
    /// no header.
    pub fn split<'a>(&self, record: &'a [u8]) -> Result<(u8, &'a [u8]), Truncated> {
        match record.strip_prefix(&self.magic) {
            Some(rest) => rest
                .split_first()
                .map(|(v, body)| (*v, body))
                .ok_or(Truncated),
            None => Ok((0, record)),
        }
    }
}

impl Header {
    /// Decodes a postcard record of this build's version, or a headerless one (version 0,
    /// which holds the version-1 body). The body must decode whole: bytes left over mean a
    /// record of another layout, which postcard would otherwise decode a prefix of silently.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, record: &[u8]) -> Result<T, DecodeError> {
        let (version, body) = self.split(record).map_err(|_| DecodeError::Truncated)?;
        let version = if version == 0 { 1 } else { version };
        if version > self.version {
            return Err(DecodeError::Newer(version));
        }
        if version < self.version {
            return Err(DecodeError::Older(version));
        }
        match postcard::take_from_bytes(body) {
            Ok((v, [])) => Ok(v),
            Ok((_, rest)) => Err(DecodeError::Corrupt(format!(
                "{} bytes after the record",
                rest.len()
            ))),
            Err(e) => Err(DecodeError::Corrupt(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn headed_and_headerless_records_split_into_version_and_body() {
        let h = Header {
            magic: *b"TEST",
            version: 3,
        };
        let mut rec = h.start(0);
        rec.extend_from_slice(b"body");
        assert_eq!(h.split(&rec), Ok((3, &b"body"[..])));
        assert_eq!(h.split(b"body"), Ok((0, &b"body"[..])));
        assert_eq!(h.split(b""), Ok((0, &b""[..])));
        assert_eq!(h.split(b"TEST"), Err(Truncated));
        assert_eq!(h.split(b"TES"), Ok((0, &b"TES"[..])));
    }
}
