//! One writer per trail: an exclusive, non-blocking `flock` on
//! `TRAIL.lock`, which holds the locking process's pid so a second
//! kmirror can name it. The lock goes with the file descriptor (also on a
//! crash); the file itself stays, since removing it would let two
//! processes lock two different files of the same name.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{io_err, AuditError};

/// The held lock; released when dropped.
pub(crate) struct TrailLock {
    _file: File,
}

/// `TRAIL.lock`, beside the trail.
pub(crate) fn lock_path(trail: &Path) -> PathBuf {
    let mut s = trail.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl TrailLock {
    /// Locks the trail at `trail`, or names who holds it.
    pub(crate) fn acquire(trail: &Path) -> Result<TrailLock, AuditError> {
        let path = lock_path(trail);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path, "opening the lock file"))?;
        // SAFETY: flock on a descriptor this function owns; no memory involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_err(&path, "locking")(e));
            }
            let mut holder = String::new();
            let _ = (&file).take(64).read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "unknown".to_string(),
                h => h.to_string(),
            };
            return Err(AuditError::Locked {
                path: trail.to_owned(),
                lock: path,
                holder,
            });
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "pid {}", std::process::id()))
            .map_err(io_err(&path, "writing the lock file"))?;
        Ok(TrailLock { _file: file })
    }
}
