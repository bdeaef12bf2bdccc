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

/// The version and payload of framed bytes whose magic is `magic`, or what is wrong with
/// them (a sentence for an error message).
pub(crate) fn decode<'a>(magic: &[u8; 8], what: &str, bytes: &'a [u8]) -> Result<(u32, &'a [u8]), String> {
    if bytes.len() < PREFIX_LEN + CRC_LEN {
        return Err(format!(
            "{} bytes is shorter than the {} bytes of an empty {what}",
            bytes.len(),
            PREFIX_LEN + CRC_LEN
        ));
    }
    if bytes[..8] != magic[..] {
        return Err(format!(
            "the file does not start with the {what} magic bytes {}",
            String::from_utf8_lossy(magic)
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (PREFIX_LEN as u128) + (len as u128) + (CRC_LEN as u128);
    if expected != bytes.len() as u128 {
        return Err(format!(
            "the header announces {len} payload bytes ({expected} in all) but the file has {} bytes (truncated or extended)",
            bytes.len()
        ));
    }
    let (payload, crc) = bytes[PREFIX_LEN..].split_at(len as usize);
    if crc32fast::hash(payload).to_le_bytes() != crc {
        return Err("the checksum does not match the contents (the file is corrupted)".into());
    }
    Ok((version, payload))
}
