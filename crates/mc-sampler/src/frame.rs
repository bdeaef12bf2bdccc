//! The framing shared by the project's binary files (ensembles, checkpoints): magic bytes,
//! format version, payload length, payload, CRC-32 of the payload, all integers
//! little-endian.  The caller chooses the magic, checks the version and decodes the payload.

/// Bytes before the payload: magic, version, payload length.
pub(crate) const PREFIX_LEN: usize = 8 + 4 + 8;
/// Bytes after the payload: the CRC-32.
pub(crate) const CRC_LEN: usize = 4;

/// The framed bytes of `payload`.
pub(crate) fn encode(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PREFIX_LEN + payload.len() + CRC_LEN);
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes
}

/// What is wrong with framed bytes.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// Wrong magic, truncated, extended or corrupted: a sentence for an error message.
    Corrupt(String),
    /// A format version the caller does not read.
    UnsupportedVersion(u32),
}

/// The version and payload of framed bytes whose magic is `magic` (a `what`, e.g.
/// "ensemble file", in the messages) and whose version `reads` accepts.  Checked in order:
/// magic, size of an empty frame, version, announced length, checksum.
pub(crate) fn decode<'a>(
    magic: &[u8; 8],
    what: &str,
    bytes: &'a [u8],
    reads: impl Fn(u32) -> bool,
) -> Result<(u32, &'a [u8]), FrameError> {
    let corrupt = |reason: String| Err(FrameError::Corrupt(reason));
    let magic_len = bytes.len().min(magic.len());
    if bytes[..magic_len] != magic[..magic_len] {
        return corrupt(format!(
            "wrong magic bytes {:?} (expected {:?}): not a qftml {what}",
            String::from_utf8_lossy(&bytes[..magic_len]),
            String::from_utf8_lossy(magic)
        ));
    }
    if bytes.len() < PREFIX_LEN + CRC_LEN {
        return corrupt(format!(
            "only {} bytes, shorter than the {} of an empty {what}: the file is truncated",
            bytes.len(),
            PREFIX_LEN + CRC_LEN
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !reads(version) {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (PREFIX_LEN as u64 + CRC_LEN as u64).saturating_add(len);
    let size = bytes.len() as u64;
    if size != expected {
        let cause = if size < expected {
            "the file is truncated (or its length field is corrupted)"
        } else {
            "trailing data after the checksum (or a corrupted length field)"
        };
        return corrupt(format!(
            "the header announces a {len}-byte payload, so the file should have {expected} bytes, but it has {size}: {cause}"
        ));
    }
    let (payload, crc) = bytes[PREFIX_LEN..].split_at(len as usize);
    let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return corrupt(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupted"
        ));
    }
    Ok((version, payload))
}
