//! The files the tool writes: private to their owner (0600, directories 0700), and an output
//! file put in place only once it is whole, so a failed run never harms the file it would
//! have replaced (the last good backup, when the output is an export).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::ReplayError;

/// Sets the process umask to 0o077, so that every file and directory this process creates is
/// private to its owner (0600 / 0700) whatever umask it was started with. Returns the umask it
/// replaced. The binary calls it first thing.
pub fn private_umask() -> u32 {
    use rustix::fs::Mode;
    rustix::process::umask(Mode::RWXG | Mode::RWXO).bits()
}

/// Writes `path` through a temporary file in the same directory (created 0600), then renames
/// it over `path` and fsyncs the file and the directory.
///
/// `write` fills the temporary file; `check` is then given the temporary file's path (written
/// out and fsynced) and what `write` returned, and may read it back. Only when both succeed is
/// `path` replaced; on any failure the temporary file is removed and `path`, if it exists, is
/// left exactly as it was.
///
/// # Errors
/// Whatever `write` or `check` fail with; [`ReplayError::Io`] when the temporary file cannot
/// be created, written, fsynced or renamed.
pub fn replace_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, ReplayError>,
    check: impl FnOnce(&Path, &T) -> Result<(), ReplayError>,
) -> Result<T, ReplayError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ReplayError::Usage(format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let partial = Partial::create(dir, name)?;
    let mut out = BufWriter::with_capacity(1 << 20, &partial.file);
    let value = write(&mut out)?;
    out.flush().map_err(|e| partial.error("write", &e))?;
    drop(out);
    partial.file.sync_all().map_err(|e| partial.error("fsync", &e))?;
    check(&partial.path, &value)?;
    fs::rename(&partial.path, path)
        .map_err(|e| ReplayError::Io(format!("cannot rename {} to {}: {e}", partial.path.display(), path.display())))?;
    partial.keep();
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ReplayError::Io(format!("cannot fsync the directory {}: {e}", dir.display())))?;
    Ok(value)
}

/// A temporary file beside the one it will replace, removed when dropped unless kept.
struct Partial {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl Partial {
    fn create(dir: &Path, name: &str) -> Result<Partial, ReplayError> {
        // Hidden, named after the file it will replace, unique: `.export.jsonl.<ulid>.partial`.
        // `create_new` with mode 0600: never, even briefly, readable by others, and never an
        // existing file (or a link planted there) written through.
        let path = dir.join(format!(".{name}.{}.partial", ulid::Ulid::new()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ReplayError::Io(format!("cannot create {}: {e}", path.display())))?;
        Ok(Partial { path, file, keep: false })
    }

    fn error(&self, action: &str, e: &io::Error) -> ReplayError {
        ReplayError::Io(format!("cannot {action} {}: {e}", self.path.display()))
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes `dir`, an existing directory, private to its owner (0700) if group or others have
/// any access to it. Returns the mode it had when it was changed.
///
/// # Errors
/// [`ReplayError::Io`] when it cannot be read or changed.
pub fn make_dir_private(dir: &Path) -> Result<Option<u32>, ReplayError> {
    let mode = fs::metadata(dir)
        .map_err(|e| ReplayError::Io(format!("cannot read {}: {e}", dir.display())))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| ReplayError::Io(format!("cannot make {} private (chmod 0700): {e}", dir.display())))?;
    Ok(Some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_or_check_leaves_the_old_file_and_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("backup.jsonl");
        fs::write(&path, b"the last good backup\n").unwrap();

        let failed = replace_atomically(
            &path,
            |out| {
                out.write_all(b"half a ").unwrap();
                Err::<(), _>(ReplayError::Io("the network went away".into()))
            },
            |_, ()| Ok(()),
        );
        assert_eq!(failed, Err(ReplayError::Io("the network went away".into())));
        let refused = replace_atomically(
            &path,
            |out| out.write_all(b"all of it\n").map_err(|e| ReplayError::io("write", e)),
            |written, ()| {
                assert_eq!(fs::read(written).unwrap(), b"all of it\n", "the check reads what was written");
                Err(ReplayError::Invalid { position: 1, reason: "read back wrong".into() })
            },
        );
        assert!(matches!(refused, Err(ReplayError::Invalid { position: 1, .. })), "{refused:?}");
        assert_eq!(fs::read(&path).unwrap(), b"the last good backup\n");
        assert_eq!(entries(tmp.path()), ["backup.jsonl"]);
    }

    #[test]
    fn a_whole_checked_write_replaces_the_file_and_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("backup.jsonl");
        fs::write(&path, b"old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let n = replace_atomically(
            &path,
            |out| out.write_all(b"new\n").map(|()| 4).map_err(|e| ReplayError::io("write", e)),
            |_, n| {
                assert_eq!(*n, 4);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(n, 4);
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(entries(tmp.path()), ["backup.jsonl"]);
    }

    #[test]
    fn a_path_that_names_no_file_is_a_usage_error() {
        let err = replace_atomically(Path::new("/"), |_| Ok(()), |_, ()| Ok(())).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
    }

    #[test]
    fn a_directory_open_to_others_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(make_dir_private(&dir).unwrap(), Some(0o755));
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, 0o700);
        assert_eq!(make_dir_private(&dir).unwrap(), None);
    }
}
