//! Files written whole or not at all, for state the engine saves itself
//! (a shard's snapshot): the bytes go to a temporary file beside the target
//! (created with the given mode, 0600 for billing data), are fsynced, the
//! file is renamed over the target, and the directory is fsynced so that
//! the rename survives a crash. A failure leaves the old file as it was
//! and removes the temporary one.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Buffer between the writer and the file: big writes pass straight through.
const BUFFER: usize = 64 * 1024;

static TEMPORARIES: AtomicU64 = AtomicU64::new(0);

fn temporary_beside(path: &Path) -> PathBuf {
    let n = TEMPORARIES.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `path` atomically with `write`, creating it with `mode`; returns
/// what `write` returns (the bytes it wrote).
pub fn write_atomically<F>(path: &Path, mode: u32, write: F) -> std::io::Result<u64>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<u64>,
{
    let tmp = temporary_beside(path);
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        let n = write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        drop(out);
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A snapshot's two files: the base at `path` and its log beside it
/// (`path` + `.log`), as `tally_core::snapshot` saves and loads them. The
/// base and a new log are written atomically ([`write_atomically`]); a
/// delta is appended to the log after its last whole frame (`at`: a torn
/// tail is cut off first) and fsynced.
pub struct SnapshotFiles {
    pub base: PathBuf,
    pub log: PathBuf,
    pub mode: u32,
}

impl SnapshotFiles {
    pub fn new(path: &Path, mode: u32) -> Self {
        let mut log = path.as_os_str().to_os_string();
        log.push(".log");
        SnapshotFiles {
            base: path.to_path_buf(),
            log: PathBuf::from(log),
            mode,
        }
    }

    /// Replaces the base with what `write` writes.
    pub fn replace_base(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64> {
        write_atomically(&self.base, self.mode, |w| write(w))
    }

    /// Replaces the log with `header` alone.
    pub fn reset_log(&mut self, header: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.log, self.mode, |w| w.write_all(header).map(|()| 0)).map(|_| ())
    }

    /// Cuts the log to `at` bytes, appends what `write` writes, fsyncs.
    pub fn append_log(
        &mut self,
        at: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64> {
        use std::io::{Seek, SeekFrom};
        let mut file = OpenOptions::new().write(true).open(&self.log)?;
        file.set_len(at)?;
        file.seek(SeekFrom::Start(at))?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        let n = write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_data()?;
        Ok(n)
    }

    /// The base (file and length) and the log when there is one, to read.
    #[allow(clippy::type_complexity)]
    pub fn open(&self) -> std::io::Result<((File, u64), Option<(File, u64)>)> {
        let base = File::open(&self.base)?;
        let base_len = base.metadata()?.len();
        let log = match File::open(&self.log) {
            Ok(f) => {
                let len = f.metadata()?.len();
                Some((f, len))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(((base, base_len), log))
    }
}

/// The POSIX name of an I/O error (`enoent`, `enospc`, ...) as Erlang's
/// `file` module names it, so every engine reports the same reason.
pub fn posix_name(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(1) => "eperm",
        Some(2) => "enoent",
        Some(5) => "eio",
        Some(9) => "ebadf",
        Some(12) => "enomem",
        Some(13) => "eacces",
        Some(17) => "eexist",
        Some(20) => "enotdir",
        Some(21) => "eisdir",
        Some(22) => "einval",
        Some(24) => "emfile",
        Some(27) => "efbig",
        Some(28) => "enospc",
        Some(30) => "erofs",
        Some(36) => "enametoolong",
        Some(122) => "edquot",
        _ => "eio",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tally-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_the_file_whole_with_mode_0600() {
        let d = dir("replace");
        let path = d.join("snap");
        std::fs::write(&path, b"old").unwrap();
        let n = write_atomically(&path, 0o600, |w| w.write_all(b"new bytes").map(|()| 9)).unwrap();
        assert_eq!(n, 9);
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "no temporary left");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let d = dir("fail");
        let path = d.join("snap");
        std::fs::write(&path, b"old").unwrap();
        let err = write_atomically(&path, 0o600, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::from_raw_os_error(28))
        })
        .unwrap_err();
        assert_eq!(posix_name(&err), "enospc");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "no temporary left");
        let missing = write_atomically(&d.join("no/such/dir"), 0o600, |_| Ok(0)).unwrap_err();
        assert_eq!(posix_name(&missing), "enoent");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
