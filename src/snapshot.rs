//! The read model's snapshot in the data directory: what a restart loads, then folds only the
//! events after it, instead of folding the whole log again.
//!
//! Written at a clean shutdown (`frontdoor serve` on SIGTERM or Ctrl-C), once the model has
//! caught up with the log. Used at start-up only if all of these hold, else the model is
//! rebuilt from the log as before and the file removed:
//!
//! - it is whole: its CRC-32 trailer matches (it is written to a temporary file and renamed into
//!   place when complete, so a crash while writing leaves the old one or none);
//! - the same executable wrote it: its header holds the SHA-256 of the binary, so a new build,
//!   whose fold may differ, never reads an old build's model;
//! - it describes this log: its header holds the position it was taken at and that event's
//!   hash, and the log's event at that position must have the same hash. The hash chains every
//!   event before it, so a log restored from another backup, cut short or replaced fails this.
//!
//! The model is a function of the log's events alone (the due-by policy and the calendar are
//! applied when it is read, not when it is folded), so no configuration is part of the key.
//!
//! Layout: a 16-byte magic, the executable's SHA-256 (32 bytes), the position (u64,
//! little-endian) and the event's hash (32 bytes), then the model as
//! `projections::model::ReadModel::write_snapshot` writes it, then the CRC-32 (u32,
//! little-endian) of everything before it.
//!
//! The snapshot holds the children's data the log holds, and is created 0600 in the 0700 data
//! directory like the log's own files. It is trusted as the log's index is: whoever can write
//! the data directory can change what the service shows, and `frontdoor-replay verify` checks
//! the log, not this file (docs/DECISIONS.md, "The read model's snapshot").

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventlog::{EventLog, Hash};
use projections::model::ReadModel;
use sha2::{Digest, Sha256};

/// The snapshot's file name in the data directory.
pub const FILE: &str = "read-model.snapshot";

/// The start of the name of a snapshot's file while it is written.
const TEMPORARY_PREFIX: &str = ".read-model.";

/// The file's first bytes: what it is, and the layout's number.
const MAGIC: &[u8; 16] = b"frontdoor-model1";

/// Buffers of a megabyte: the snapshot of a large model is hundreds of megabytes.
const BUFFER: usize = 1 << 20;

/// The snapshot's path in `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The SHA-256 of the running executable, worked out once (about 0.1 s for a 100 MB binary):
/// `None` if it cannot be read, and then no snapshot is written or read. Read through
/// `/proc/self/exe`, which is the running binary even once an upgrade has replaced its file.
pub fn build_id() -> Option<&'static [u8; 32]> {
    static ID: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    ID.get_or_init(|| {
        let exe = File::open("/proc/self/exe").or_else(|_| File::open(std::env::current_exe()?)).ok()?;
        let mut file = BufReader::with_capacity(BUFFER, exe);
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).ok()?;
        Some(hasher.finalize().into())
    })
    .as_ref()
}

/// A snapshot written.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub position: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Writes `model` (whose last event has `hash`) as the snapshot in `data_dir`, replacing any.
/// A snapshot that would leave less than
/// `min_free_bytes` free on the data directory's file system is not kept: the log's appends,
/// refused below that reserve, matter more than a faster start.
pub fn write(data_dir: &Path, model: &ReadModel, hash: Hash, min_free_bytes: u64) -> anyhow::Result<Written> {
    write_with(data_dir, model, hash, min_free_bytes, &mut |dir| fs2::available_space(dir))
}

/// [`write`], reading the free space with `available_space` (the tests' way in, since no
/// test can make a real disk fill up between the two readings).
fn write_with(
    data_dir: &Path,
    model: &ReadModel,
    hash: Hash,
    min_free_bytes: u64,
    available_space: &mut dyn FnMut(&Path) -> std::io::Result<u64>,
) -> anyhow::Result<Written> {
    let started = Instant::now();
    let position = model.position();
    let Some(build) = build_id() else {
        bail!("the running executable cannot be read, so a snapshot could not be keyed to it")
    };
    // Not begun where even the reserve is gone (a snapshot is about the size of the last one):
    // filling the disk to the last byte before finding out would hurt whatever else writes there.
    let free = available_space(data_dir).context("reading the free space")?;
    if free < min_free_bytes {
        let _ = std::fs::remove_file(path(data_dir));
        bail!(
            "not kept: {} MiB free, under the {} MiB kept in reserve for the log (min_free_mb)",
            free / (1024 * 1024),
            min_free_bytes / (1024 * 1024)
        );
    }
    // tempfile creates the file 0600 whatever the umask.
    let tmp = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(data_dir)
        .with_context(|| format!("creating a temporary file in {}", data_dir.display()))?;
    {
        // The checksum under the buffer: it sees the bytes in large blocks, not a value at a time.
        let mut out = BufWriter::with_capacity(BUFFER, Crc { inner: tmp.as_file(), crc: crc32fast::Hasher::new() });
        out.write_all(MAGIC)?;
        out.write_all(build)?;
        out.write_all(&position.to_le_bytes())?;
        out.write_all(&hash.0)?;
        model.write_snapshot(&mut out)?;
        let Crc { inner: mut file, crc } = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.write_all(&crc.finalize().to_le_bytes())?;
    }
    let bytes = tmp.as_file().metadata()?.len();
    let free = available_space(data_dir).context("reading the free space")?;
    // The old snapshot's space comes back when the new one replaces it.
    let freed = std::fs::metadata(path(data_dir)).map(|m| m.len()).unwrap_or(0);
    if free.saturating_add(freed) < min_free_bytes {
        // `tmp` is removed as it drops.
        let _ = std::fs::remove_file(path(data_dir));
        bail!(
            "not kept: it would leave {} MiB free, under the {} MiB kept in reserve for the log (min_free_mb)",
            free.saturating_add(freed) / (1024 * 1024),
            min_free_bytes / (1024 * 1024)
        );
    }
    tmp.persist(path(data_dir)).with_context(|| format!("renaming the snapshot into {}", data_dir.display()))?;
    Ok(Written { position, bytes, elapsed: started.elapsed() })
}

/// What start-up found.
#[derive(Debug)]
pub enum Found {
    /// No snapshot.
    None,
    /// A snapshot of this log by this build, read back, and how long reading it took.
    Model(Box<ReadModel>, Duration),
    /// A snapshot that cannot be used, and why (it has been removed).
    Unusable(String),
}

/// A snapshot read from the data directory, before it is checked against the log.
#[derive(Debug)]
pub enum Loaded {
    None,
    /// Whole and this build's: the position and event hash it was taken at, its model, and
    /// how long reading it took.
    Read {
        position: u64,
        hash: [u8; 32],
        model: Box<ReadModel>,
        elapsed: Duration,
    },
    Unusable(String),
}

/// The snapshot being read on a thread of its own, started before the log is opened: reading it
/// back (seconds at millions of events) and opening the log (which walks every segment's
/// frames) then take their time side by side, on two cores.
#[derive(Debug)]
pub struct Pending(Option<std::thread::JoinHandle<Loaded>>);

impl Pending {
    /// Starts reading the snapshot in `data_dir`.
    pub fn start(data_dir: &Path) -> Pending {
        let dir = data_dir.to_owned();
        let reader = std::thread::Builder::new().name("snapshot-read".into()).spawn(move || load(&dir));
        // No thread to be had: the model is rebuilt from the log instead.
        Pending(reader.ok())
    }

    /// No snapshot: the model is rebuilt from the whole log.
    pub fn none() -> Pending {
        Pending(None)
    }

    /// What was read.
    pub fn wait(self) -> Loaded {
        match self.0.map(std::thread::JoinHandle::join) {
            Some(Ok(loaded)) => loaded,
            Some(Err(_)) => Loaded::Unusable("reading it failed unexpectedly".into()),
            None => Loaded::None,
        }
    }
}

/// Reads the snapshot in `data_dir` if it is whole and this build's; whether it describes the
/// log is [`check`]'s to say, once the log is open.
pub fn load(data_dir: &Path) -> Loaded {
    match File::open(path(data_dir)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::None,
        Err(e) => Loaded::Unusable(format!("it cannot be opened: {e}")),
        Ok(f) => match read_from(&f) {
            Ok(loaded) => loaded,
            Err(why) => Loaded::Unusable(format!("{why:#}")),
        },
    }
}

/// Whether what [`load`] read describes `log` (open, so this process holds its lock): its
/// event at the snapshot's position must have the hash recorded. An unusable snapshot is
/// removed, and so are unfinished ones.
pub fn check(loaded: Loaded, log: &EventLog) -> Found {
    remove_leftovers(log.dir());
    let why = match loaded {
        Loaded::None => return Found::None,
        Loaded::Unusable(why) => why,
        Loaded::Read { position, hash, model, elapsed } => match log.get(position) {
            Ok(Some(env)) if env.hash.0 == hash => return Found::Model(model, elapsed),
            Ok(Some(_)) => format!("the log's event at position {position} is not the one it was taken at"),
            Ok(None) => format!("it was taken at position {position}, beyond the log's head {}", log.head().position),
            Err(e) => format!("reading the log at its position {position}: {e}"),
        },
    };
    // Never read again: the next clean shutdown writes a new one.
    let _ = std::fs::remove_file(path(log.dir()));
    Found::Unusable(why)
}

fn read_from(file: &File) -> anyhow::Result<Loaded> {
    use std::os::unix::fs::FileExt;
    let started = Instant::now();
    let len = file.metadata()?.len();
    let Some(body) = len.checked_sub(4) else { bail!("it is cut short") };
    let mut trailer = [0; 4];
    file.read_exact_at(&mut trailer, body).context("reading its checksum")?;
    // The checksum under the buffer, over every byte but the trailer's.
    let mut input = BufReader::with_capacity(BUFFER, Crc { inner: file.take(body), crc: crc32fast::Hasher::new() });
    let mut magic = [0; 16];
    let mut build = [0; 32];
    let mut position = [0; 8];
    let mut hash = [0; 32];
    input.read_exact(&mut magic).context("its header is cut short")?;
    if &magic != MAGIC {
        bail!("it is not a snapshot of this layout");
    }
    input.read_exact(&mut build).context("its header is cut short")?;
    if build_id() != Some(&build) {
        bail!("another build of frontdoor wrote it");
    }
    input.read_exact(&mut position).context("its header is cut short")?;
    input.read_exact(&mut hash).context("its header is cut short")?;
    let position = u64::from_le_bytes(position);
    let model = ReadModel::read_snapshot(&mut input).context("its model does not read back")?;
    if input.read(&mut [0])? != 0 {
        bail!("it has bytes after its model");
    }
    if u32::from_le_bytes(trailer) != input.into_inner().crc.finalize() {
        bail!("its checksum does not match (the file is damaged)");
    }
    if model.position() != position {
        bail!("its model is at position {}, its header says {position}", model.position());
    }
    Ok(Loaded::Read { position, hash, model: Box::new(model), elapsed: started.elapsed() })
}

/// Removes the temporary files of snapshots whose writing never finished (the process was
/// killed while writing): hundreds of megabytes each at millions of events.
fn remove_leftovers(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMPORARY_PREFIX) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %entry.path().display(), "removed an unfinished read model snapshot"),
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "could not remove an unfinished read model snapshot");
                }
            }
        }
    }
}

/// A reader or writer that keeps the CRC-32 of the bytes through it.
struct Crc<T> {
    inner: T,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Crc<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// Free space as a test wants it read: each reading in turn.
    fn readings(mut free: Vec<u64>) -> impl FnMut(&Path) -> std::io::Result<u64> {
        free.reverse();
        move |_| Ok(free.pop().expect("no more readings of the free space than the test gave"))
    }

    #[test]
    fn a_snapshot_that_took_the_disk_under_the_reserve_while_written_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let model = ReadModel::default();
        let hash = Hash([7; 32]);
        // Room to spare: kept.
        let written =
            write_with(dir.path(), &model, hash, 64 * MIB, &mut readings(vec![1000 * MIB, 999 * MIB])).unwrap();
        assert_eq!(written.bytes, std::fs::metadata(path(dir.path())).unwrap().len());
        assert_eq!(entries(dir.path()), [FILE]);
        // Above the reserve when begun, under it once written (even with the old one's space
        // back): not kept, the old one gone too (it is out of date), no temporary file left.
        let old = std::fs::metadata(path(dir.path())).unwrap().len();
        let after = 64 * MIB - old - 1;
        let refused = write_with(dir.path(), &model, hash, 64 * MIB, &mut readings(vec![65 * MIB, after])).unwrap_err();
        assert!(format!("{refused:#}").contains("not kept: it would leave 63 MiB free"), "{refused:#}");
        assert_eq!(entries(dir.path()), Vec::<String>::new());
        // The old snapshot's space counts as freed: just at the reserve with it, kept.
        write_with(dir.path(), &model, hash, 64 * MIB, &mut readings(vec![65 * MIB, 65 * MIB])).unwrap();
        let old = std::fs::metadata(path(dir.path())).unwrap().len();
        write_with(dir.path(), &model, hash, 64 * MIB, &mut readings(vec![65 * MIB, 64 * MIB - old])).unwrap();
        assert_eq!(entries(dir.path()), [FILE]);
    }

    #[test]
    fn a_snapshot_is_not_begun_under_the_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let model = ReadModel::default();
        write_with(dir.path(), &model, Hash([1; 32]), 64 * MIB, &mut readings(vec![100 * MIB, 100 * MIB])).unwrap();
        // The reading after writing is never taken: `readings` would panic.
        let refused =
            write_with(dir.path(), &model, Hash([1; 32]), 64 * MIB, &mut readings(vec![63 * MIB])).unwrap_err();
        assert!(format!("{refused:#}").contains("not kept: 63 MiB free"), "{refused:#}");
        assert_eq!(entries(dir.path()), Vec::<String>::new());
    }
}
