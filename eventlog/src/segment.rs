//! The segment files: the log's events, framed, in append-only files the log owns.
//!
//! A data directory keeps its events in `segments/`, one file per segment, named after the
//! position of its first event (`00000000000000000001.seg`, 20 digits, so the names sort in
//! log order). The writer appends to the newest segment only; once it has grown past
//! [`Options::segment_bytes`](crate::Options::segment_bytes) at the end of a group commit, the
//! next group starts a new segment and the old one never changes again (it is *sealed*).
//!
//! ```text
//! segment := header (64 bytes) ‖ frame*
//! header  := magic "FDSEG\0\0\x01" (8) ‖ first position (u64 BE) ‖ prev_hash (32)
//!            ‖ crc32(bytes 0..48) (u32 BE) ‖ 12 zero bytes
//! frame   := len (u32 BE) ‖ flags (u8) ‖ meta_len (u8) ‖ 2 zero bytes
//!            ‖ crc32(bytes 0..8 of the frame ‖ meta) (u32 BE) ‖ meta (meta_len) ‖ record (len)
//! record  := crc32(hash ‖ body) (u32 BE) ‖ hash (32) ‖ body        (see crate::record)
//! flags   := bit 0 END: the last event of its append; bit 1 IDEM: meta is the append's
//!            idempotency key, SHA-256(key) (32) ‖ request fingerprint (32)
//! ```
//!
//! `prev_hash` in the header is the hash of the event before the segment's first (all zeros
//! for position 1), so one segment can be checked on its own. See `eventlog/README.md`.

// Without the `storage` feature only the framing is used (by the fuzz targets).
#![cfg_attr(not(feature = "storage"), allow(dead_code))]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use events::envelope::Hash;

/// The segments' directory inside a data directory.
pub const SEGMENTS_DIR: &str = "segments";
/// The file name extension of a segment.
pub const EXTENSION: &str = "seg";
/// The first bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"FDSEG\x00\x00\x01";
/// Bytes of a segment's header.
pub const HEADER_LEN: u64 = 64;
/// [`HEADER_LEN`] as a buffer size.
pub const HEADER_SIZE: usize = 64;
/// Bytes of a frame's header (before its meta and record).
pub const FRAME_HEADER_LEN: usize = 12;
/// The last event of its append: an append is whole only up to a frame with this flag.
pub const FLAG_END: u8 = 1;
/// The frame carries the append's idempotency key hash and fingerprint as its meta.
pub const FLAG_IDEM: u8 = 2;
/// Bytes of the idempotency meta.
pub const IDEM_META_LEN: usize = 64;
/// No record is larger than this; a frame header saying otherwise is damaged.
pub const MAX_RECORD: u32 = 64 * 1024 * 1024;
/// Bytes read at a time when walking a segment.
pub(crate) const READ_CHUNK: usize = 1 << 20;

/// A segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The position of the segment's first event.
    pub first_position: u64,
    /// The hash of the event before it (zeros for position 1).
    pub prev_hash: Hash,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[..8].copy_from_slice(&MAGIC);
        out[8..16].copy_from_slice(&self.first_position.to_be_bytes());
        out[16..48].copy_from_slice(&self.prev_hash.0);
        let crc = crc32fast::hash(&out[..48]);
        out[48..52].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a header.
    ///
    /// # Errors
    /// Why it is not a valid header.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < HEADER_SIZE {
            return Err(format!("segment header cut short ({} of {HEADER_LEN} bytes)", bytes.len()));
        }
        if bytes[..8] != MAGIC {
            return Err("not a frontdoor segment (wrong magic bytes)".into());
        }
        let stored = u32::from_be_bytes(bytes[48..52].try_into().expect("4 bytes"));
        if stored != crc32fast::hash(&bytes[..48]) {
            return Err("segment header checksum mismatch".into());
        }
        let first_position = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        if first_position == 0 {
            return Err("segment header names position 0".into());
        }
        Ok(SegmentHeader { first_position, prev_hash: Hash(bytes[16..48].try_into().expect("32 bytes")) })
    }
}

/// The idempotency key of an append, as stored with its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdemMeta {
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    pub fingerprint: Hash,
}

/// Appends one frame around `record` (a [`crate::record`] record) to `out`.
pub fn encode_frame(out: &mut Vec<u8>, record: &[u8], end: bool, idem: Option<&IdemMeta>) {
    push_frame(out, end, idem, |out| out.extend_from_slice(record));
}

/// Appends one frame to `out` whose record `record` writes in place at the end of `out` (no
/// copy of it), and returns what `record` returned.
pub fn push_frame<R>(
    out: &mut Vec<u8>,
    end: bool,
    idem: Option<&IdemMeta>,
    record: impl FnOnce(&mut Vec<u8>) -> R,
) -> R {
    let mut flags = if end { FLAG_END } else { 0 };
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    let meta_len = match idem {
        Some(m) => {
            flags |= FLAG_IDEM;
            out.extend_from_slice(&m.key_hash);
            out.extend_from_slice(&m.fingerprint.0);
            IDEM_META_LEN
        }
        None => 0,
    };
    let record_start = out.len();
    let result = record(out);
    let len = u32::try_from(out.len() - record_start).expect("records are far smaller than 4 GiB");
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4] = flags;
    out[start + 5] = u8::try_from(meta_len).expect("64");
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&out[start..start + 8]);
    hasher.update(&out[start + FRAME_HEADER_LEN..record_start]);
    let crc = hasher.finalize();
    out[start + 8..start + FRAME_HEADER_LEN].copy_from_slice(&crc.to_be_bytes());
    result
}

/// A frame read from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub flags: u8,
    pub idem: Option<IdemMeta>,
    /// The record: crc32 ‖ hash ‖ body.
    pub record: &'a [u8],
    /// Bytes of the whole frame.
    pub len: usize,
}

impl Frame<'_> {
    /// The record's hash (bytes 4..36 of the record).
    pub fn hash(&self) -> Hash {
        Hash(self.record[4..36].try_into().expect("checked length"))
    }

    pub fn is_end(&self) -> bool {
        self.flags & FLAG_END != 0
    }
}

/// Why no frame could be read at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends inside the frame (at the end of a file: a torn write).
    Partial,
    /// The frame's header is damaged.
    Header(String),
    /// The record fails its checksum.
    Record(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Partial => write!(f, "the file ends inside the record"),
            FrameError::Header(r) => write!(f, "damaged frame header: {r}"),
            FrameError::Record(r) => write!(f, "damaged record: {r}"),
        }
    }
}

/// Reads the frame at the start of `buf`, checking the header's and the record's checksums.
///
/// # Errors
/// [`FrameError`]: partial, or which checksum failed.
pub fn parse_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Partial);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    let flags = buf[4];
    let meta_len = usize::from(buf[5]);
    let stored = u32::from_be_bytes(buf[8..12].try_into().expect("4 bytes"));
    let header_ok = buf[6] == 0
        && buf[7] == 0
        && flags & !(FLAG_END | FLAG_IDEM) == 0
        && (meta_len == 0 || meta_len == IDEM_META_LEN)
        && (flags & FLAG_IDEM != 0) == (meta_len == IDEM_META_LEN)
        && (36..=MAX_RECORD).contains(&len);
    if !header_ok {
        return Err(FrameError::Header(format!("len {len}, flags {flags:#04x}, meta {meta_len}")));
    }
    if buf.len() < FRAME_HEADER_LEN + meta_len {
        return Err(FrameError::Partial);
    }
    let meta = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + meta_len];
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&buf[..8]);
    hasher.update(meta);
    let computed = hasher.finalize();
    if computed != stored {
        return Err(FrameError::Header(format!("checksum mismatch (stored {stored:08x}, computed {computed:08x})")));
    }
    let start = FRAME_HEADER_LEN + meta_len;
    let total = start + len as usize;
    if buf.len() < total {
        return Err(FrameError::Partial);
    }
    let record = &buf[start..total];
    let stored = u32::from_be_bytes(record[..4].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&record[4..]);
    if stored != computed {
        return Err(FrameError::Record(format!("checksum mismatch (stored {stored:08x}, computed {computed:08x})")));
    }
    let idem = (meta_len == IDEM_META_LEN).then(|| IdemMeta {
        key_hash: meta[..32].try_into().expect("32 bytes"),
        fingerprint: Hash(meta[32..].try_into().expect("32 bytes")),
    });
    Ok(Frame { flags, idem, record, len: total })
}

/// The frame that fills `buf` exactly, already checked by [`parse_frame`].
fn checked_frame(buf: &[u8]) -> Frame<'_> {
    let meta_len = usize::from(buf[5]);
    let meta = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + meta_len];
    let idem = (meta_len == IDEM_META_LEN).then(|| IdemMeta {
        key_hash: meta[..32].try_into().expect("32 bytes"),
        fingerprint: Hash(meta[32..].try_into().expect("32 bytes")),
    });
    Frame { flags: buf[4], idem, record: &buf[FRAME_HEADER_LEN + meta_len..], len: buf.len() }
}

/// The file name of the segment whose first event is at `first_position`.
pub fn file_name(first_position: u64) -> String {
    format!("{first_position:020}.{EXTENSION}")
}

/// The first position a segment's file name says, if it is a segment's name.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// The segment files of `segments_dir`, in log order (by the first position in their names).
///
/// # Errors
/// The directory cannot be read.
pub fn list(segments_dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(segments_dir)? {
        let entry = entry?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((first, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(first, _)| *first);
    Ok(out)
}

/// Walks the frames of a file from `offset` up to `end`, reading a chunk at a time.
#[derive(Debug)]
pub(crate) struct Cursor<'f> {
    file: &'f File,
    /// File offset of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
    /// Where in `buf` the last frame returned starts (or the next one, if `advance` is 0).
    at: usize,
    /// The length of the last frame returned, skipped at the next call.
    advance: usize,
    end: u64,
    chunk: usize,
}

impl<'f> Cursor<'f> {
    pub(crate) fn new(file: &'f File, offset: u64, end: u64) -> Self {
        Cursor { file, base: offset, buf: Vec::new(), at: 0, advance: 0, end, chunk: READ_CHUNK }
    }

    /// A cursor that reads `chunk` bytes at a time (small for a single record).
    pub(crate) fn with_chunk(file: &'f File, offset: u64, end: u64, chunk: usize) -> Self {
        Cursor { chunk, ..Cursor::new(file, offset, end) }
    }

    /// The file offset of the next frame.
    pub(crate) fn offset(&self) -> u64 {
        self.base + (self.at + self.advance) as u64
    }

    /// The next frame and its offset; `Ok(None)` exactly at `end`. After an error the cursor
    /// stays at the bad frame.
    pub(crate) fn next(&mut self) -> std::io::Result<Option<(u64, Result<Frame<'_>, FrameError>)>> {
        self.at += std::mem::take(&mut self.advance);
        let offset = self.offset();
        if offset >= self.end {
            return Ok(None);
        }
        let remaining_in_file = self.end - offset;
        let mut want = FRAME_HEADER_LEN;
        loop {
            let before = self.buf.len() - self.at;
            if before < want && (before as u64) < remaining_in_file {
                self.refill(want)?;
            }
            let available = self.buf.len() - self.at;
            let grew = available > before || available >= want;
            let outcome = match parse_frame(&self.buf[self.at..]) {
                Err(FrameError::Partial) if (available as u64) < remaining_in_file && grew => {
                    Err(needed(&self.buf[self.at..]))
                }
                Err(e) => return Ok(Some((offset, Err(e)))),
                Ok(frame) => Ok(frame.len),
            };
            match outcome {
                Err(n) => want = n.max(want + 1),
                Ok(len) => {
                    self.advance = len;
                    return Ok(Some((offset, Ok(checked_frame(&self.buf[self.at..self.at + len])))));
                }
            }
        }
    }

    fn refill(&mut self, want: usize) -> std::io::Result<()> {
        let offset = self.base + self.at as u64;
        self.buf.drain(..self.at);
        self.base = offset;
        self.at = 0;
        let have = self.buf.len();
        let target = (want.max(self.chunk) as u64).min(self.end - offset);
        let target = usize::try_from(target).unwrap_or(usize::MAX);
        if target <= have {
            return Ok(());
        }
        self.buf.resize(target, 0);
        let mut filled = have;
        while filled < target {
            let n = self.file.read_at(&mut self.buf[filled..], offset + filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.buf.truncate(filled);
        Ok(())
    }
}

/// True when `path` starts with a segment's magic bytes.
pub fn is_segment_file(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path).and_then(|f| f.read_exact_at(&mut magic, 0)).is_ok_and(|()| magic == MAGIC)
}

/// What [`read_files`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesRead {
    /// The first file's header: where the chain starts (position 1 and zeros for a whole log).
    pub start: SegmentHeader,
    /// A partial record at the end of the last file (a copy taken while the log was being
    /// written): the file and the offset it starts at. Left out.
    pub torn_tail: Option<(PathBuf, u64)>,
}

#[cfg(feature = "storage")]
/// Reads segment files offline, in the order given, without an index: each header, each
/// frame's and record's checksum, each record's position, and that each file starts where the
/// one before ended (position and `prev_hash`). Calls `f` with every envelope in order until it
/// returns `false`. The hash chain and the versions are the caller's to check.
///
/// # Errors
/// [`crate::LogError::Corrupt`] naming the file, byte offset and position; I/O errors.
pub fn read_files(
    paths: &[PathBuf],
    f: &mut dyn FnMut(events::Envelope) -> Result<bool, crate::LogError>,
) -> Result<FilesRead, crate::LogError> {
    use crate::LogError;
    let fail = |path: &Path, offset: u64, position: u64, what: &str| LogError::Corrupt {
        position,
        reason: format!("segment {}, byte offset {offset}: {what}", path.display()),
    };
    let mut start = None;
    let mut torn_tail = None;
    let mut position = 0u64;
    let mut hash = Hash::GENESIS;
    for (i, path) in paths.iter().enumerate() {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; HEADER_SIZE];
        if len < HEADER_LEN {
            return Err(fail(path, 0, position + 1, "shorter than a segment header"));
        }
        file.read_exact_at(&mut header, 0)?;
        let header = SegmentHeader::decode(&header).map_err(|e| fail(path, 0, position + 1, &e))?;
        match start {
            None => {
                start = Some(header);
                position = header.first_position - 1;
                hash = header.prev_hash;
            }
            Some(_) => {
                if header.first_position != position + 1 || header.prev_hash != hash {
                    return Err(fail(
                        path,
                        0,
                        position + 1,
                        &format!(
                            "the segment starts at position {} but the one before ends at {position} (or its \
                             prev_hash does not link): give the segments in order, none missing",
                            header.first_position
                        ),
                    ));
                }
            }
        }
        let mut cursor = Cursor::new(&file, HEADER_LEN, len);
        while let Some((at, frame)) = cursor.next()? {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    let last = i + 1 == paths.len();
                    if last && valid_frame_after(&file, at, len)?.is_none() {
                        torn_tail = Some((path.clone(), at));
                        break;
                    }
                    return Err(fail(path, at, position + 1, &e.to_string()));
                }
            };
            position += 1;
            let env =
                crate::record::decode_record(frame.record).map_err(|e| fail(path, at, position, &e.to_string()))?;
            if env.position != position {
                return Err(fail(path, at, position, &format!("the record says it is position {}", env.position)));
            }
            hash = env.hash;
            if !f(env)? {
                return Ok(FilesRead { start: start.expect("set above"), torn_tail });
            }
        }
    }
    let start = start.unwrap_or(SegmentHeader { first_position: 1, prev_hash: Hash::GENESIS });
    Ok(FilesRead { start, torn_tail })
}

/// How many bytes the frame at the start of `buf` needs in all, as far as its header says.
fn needed(buf: &[u8]) -> usize {
    if buf.len() < FRAME_HEADER_LEN {
        return FRAME_HEADER_LEN;
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")).min(MAX_RECORD) as usize;
    FRAME_HEADER_LEN + usize::from(buf[5]) + len
}

/// Whether any valid frame starts anywhere in `file` between `from` (exclusive) and `end`:
/// damage followed by intact records is not a torn write.
pub(crate) fn valid_frame_after(file: &File, from: u64, end: u64) -> std::io::Result<Option<u64>> {
    let mut bytes = vec![0u8; usize::try_from(end.saturating_sub(from)).unwrap_or(0)];
    file.read_exact_at(&mut bytes, from)?;
    for start in 1..bytes.len() {
        if parse_frame(&bytes[start..]).is_ok() {
            return Ok(Some(from + start as u64));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_damage() {
        let record = crate::record::encode_record_parts(&Hash([3; 32]), b"{\"x\":1}");
        let idem = IdemMeta { key_hash: [5; 32], fingerprint: Hash([6; 32]) };
        let mut buf = Vec::new();
        encode_frame(&mut buf, &record, false, None);
        let first = buf.len();
        encode_frame(&mut buf, &record, true, Some(&idem));
        let a = parse_frame(&buf).unwrap();
        assert_eq!((a.len, a.record, a.idem, a.is_end()), (first, &record[..], None, false));
        let b = parse_frame(&buf[first..]).unwrap();
        assert_eq!((b.idem, b.is_end(), b.hash()), (Some(idem), true, Hash([3; 32])));
        assert_eq!(parse_frame(&buf[..first - 1]), Err(FrameError::Partial));
        for at in 0..first {
            let mut bad = buf.clone();
            bad[at] ^= 0x10;
            assert!(parse_frame(&bad).is_err(), "a flipped bit at {at} went unnoticed");
        }
    }

    #[test]
    fn a_frame_is_laid_out_as_documented() {
        let record = crate::record::encode_record_parts(&Hash([3; 32]), b"{\"x\":1}");
        let idem = IdemMeta { key_hash: [5; 32], fingerprint: Hash([6; 32]) };
        for (end, idem) in [(false, None), (true, None), (true, Some(&idem))] {
            let meta: Vec<u8> = idem.map(|m| [&m.key_hash[..], &m.fingerprint.0[..]].concat()).unwrap_or_default();
            let flags = u8::from(end) | if idem.is_some() { FLAG_IDEM } else { 0 };
            let mut expected = u32::try_from(record.len()).unwrap().to_be_bytes().to_vec();
            expected.extend_from_slice(&[flags, u8::try_from(meta.len()).unwrap(), 0, 0]);
            let crc = crc32fast::hash(&[&expected[..], &meta[..]].concat());
            expected.extend_from_slice(&crc.to_be_bytes());
            expected.extend_from_slice(&meta);
            expected.extend_from_slice(&record);
            let mut buf = b"before".to_vec();
            encode_frame(&mut buf, &record, end, idem);
            assert_eq!(&buf[..6], b"before");
            assert_eq!(buf[6..], expected);
            let mut built = Vec::new();
            let got = push_frame(&mut built, end, idem, |out| {
                out.extend_from_slice(&record);
                7
            });
            assert_eq!((got, built), (7, expected));
        }
    }

    #[test]
    fn headers_and_names() {
        let h = SegmentHeader { first_position: 42, prev_hash: Hash([9; 32]) };
        assert_eq!(SegmentHeader::decode(&h.encode()).unwrap(), h);
        let mut bad = h.encode();
        bad[20] ^= 1;
        assert!(SegmentHeader::decode(&bad).is_err());
        assert_eq!(file_name(1), "00000000000000000001.seg");
        assert_eq!(parse_file_name(&file_name(123)), Some(123));
        assert_eq!(parse_file_name("1.seg"), None);
    }
}
