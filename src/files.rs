//! Reading a file the user named (a scenario, a trace, a CA bundle, a
//! `.env`): only a regular file, and at most a bound, so a mistaken path
//! (`/dev/zero`, a FIFO, a directory, a multi-gigabyte log) gives an error
//! instead of filling memory or waiting for ever. The one rule for every
//! such read, and one for every file written in place of one the user
//! named ([`check_writable`]).

// Reads files on purpose (clippy.toml bans file access in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::Read as _;
use std::path::Path;

/// The bytes of `path`, a regular file of at most `max` bytes (symbolic
/// links are followed). The error says why, without the path (the caller
/// names the file).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    // Checked before opening: opening a FIFO for reading waits for a writer.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(if meta.is_dir() {
            "is a directory, not a file".to_string()
        } else {
            "not a regular file (a device, a FIFO or a socket); refusing to read it".to_string()
        });
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("larger than {}; refusing to read it", size(max)));
    }
    Ok(bytes)
}

/// Whether a file the user names may be written, replacing it: its
/// directory exists, and it is absent or a regular file — never a
/// directory, a device (`/dev/full` is no file to replace), a FIFO
/// (opening one waits for a reader) or a socket. With `renamed` (written as
/// a temporary file renamed over it) a symbolic link is refused too: the
/// rename would replace the link, not the file it points to. What the
/// write needs is tried too: a file created in the directory (and removed),
/// or the existing file opened for writing when it is written in place.
/// Returns whether the file exists. One rule for `--out` and
/// `--metrics-file`.
/// Whether `a` and `b` name the same file: their directories resolved
/// (symbolic links, `..`), then their names compared; a file that does
/// not exist yet is compared the same way. What tells an output from an
/// input it would overwrite.
pub fn same_file(a: &Path, b: &Path) -> bool {
    // Two names of one existing file (a hard link: its paths differ).
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (x.dev(), x.ino()) == (y.dev(), y.ino());
        }
    }
    resolved(a) == resolved(b)
}

/// `p` with its directory resolved, and the symbolic links it names
/// followed, also to a file that does not exist yet (a dangling link
/// written through: two outputs, one through a link, wrote one file: an
/// outside check).
fn resolved(p: &Path) -> std::path::PathBuf {
    let mut p = p.to_path_buf();
    // A bounded walk: a loop of links ends it.
    for _ in 0..40 {
        if let Ok(full) = std::fs::canonicalize(&p) {
            return full;
        }
        match std::fs::read_link(&p) {
            Ok(target) => p = directory_of(&p).join(target),
            Err(_) => break,
        }
    }
    let dir = directory_of(&p);
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.join(p.file_name().unwrap_or_default())
}

pub fn check_writable(path: &Path, renamed: bool) -> Result<bool, String> {
    let dir = directory_of(path);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the directory {} does not exist (it is not created)",
                dir.display()
            ))
        }
        Err(e) => return Err(format!("cannot read the directory {}: {e}", dir.display())),
    }
    let meta = if renamed {
        std::fs::symlink_metadata(path)
    } else {
        std::fs::metadata(path)
    };
    let exists = match meta {
        Ok(m) if m.is_symlink() => {
            return Err(
                "is a symbolic link, which the file's atomic replacement would overwrite; \
                 name the file it points to"
                    .into(),
            )
        }
        Ok(m) if m.is_dir() => return Err("is a directory; name a file".into()),
        Ok(m) if !m.is_file() => {
            return Err(
                "not a regular file (a device, a FIFO or a socket); refusing to replace it".into(),
            )
        }
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    // What the write will need, tried now (a read-only directory, a file
    // we may not write), so a command refuses before it runs, not after.
    if exists && !renamed {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot write: {e}"))?;
    } else {
        probe_directory(dir)?;
    }
    Ok(exists)
}

/// The directory a file the user names is in: its parent, or the working
/// directory for a bare name.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The directory ([`directory_of`]) and the name of a file the user
/// names; an error for a path that names no file (`..`, `/`).
pub fn file_parts(path: &Path) -> Result<(&Path, String), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| "not a file path".to_string())?;
    Ok((directory_of(path), name))
}

/// Whether a file can be created in `dir`: a file is created there and
/// removed at once (what the write's temporary file or new file needs).
fn probe_directory(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".clusterctl-probe.{}", std::process::id()));
    let refused = |e: std::io::Error| {
        format!(
            "cannot create a file in the directory {}: {e}",
            dir.display()
        )
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        // Our own probe, left by a process of this PID killed meanwhile:
        // removing it needs what creating one does.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&probe).map_err(refused)
        }
        Err(e) => Err(refused(e)),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then
/// a rename over it, so a reader (a collector, `apply --plan`) never sees
/// half a file and a failed write leaves the old one. The error says why,
/// without the path (the caller names the file). Check the path first with
/// [`check_writable`] (`renamed`).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let (dir, name) = file_parts(path)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write: {e}"));
    }
    Ok(())
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_text_bounded(path: &Path, max: u64) -> Result<String, String> {
    String::from_utf8(read_bounded(path, max)?).map_err(|_| "not UTF-8 text".to_string())
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory nothing can be created in is refused up front, for a
    /// file replaced by a rename and for one written in place alike (procfs
    /// refuses even root, who may write anywhere else), and the probe
    /// leaves nothing behind where it can write.
    #[test]
    fn a_directory_nothing_can_be_created_in_is_refused_before_the_write() {
        for renamed in [true, false] {
            let why = check_writable(Path::new("/proc/plan.json"), renamed).unwrap_err();
            assert!(
                why.starts_with("cannot create a file in the directory /proc: "),
                "{why}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plan.json");
        assert_eq!(check_writable(&f, true), Ok(false));
        std::fs::write(&f, "x").unwrap();
        assert_eq!(check_writable(&f, false), Ok(true));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["plan.json"]);
    }

    /// A probe left by a process of this PID (killed between the probe's
    /// creation and removal) is no reason to refuse, and is cleared.
    #[test]
    fn a_leftover_probe_of_this_pid_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir
            .path()
            .join(format!(".clusterctl-probe.{}", std::process::id()));
        std::fs::write(&probe, "").unwrap();
        assert_eq!(
            check_writable(&dir.path().join("plan.json"), true),
            Ok(false)
        );
        assert!(!probe.exists());
    }

    /// What is no file to replace is refused, each with its reason; a file
    /// written in place needs only itself writable, a renamed one its
    /// directory.
    #[test]
    fn only_a_regular_file_or_none_may_be_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.json");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(check_writable(&link, true)
            .unwrap_err()
            .starts_with("is a symbolic link"));
        // Written in place, the link's file is written.
        assert_eq!(check_writable(&link, false), Ok(true));
        assert_eq!(
            check_writable(dir.path(), false).unwrap_err(),
            "is a directory; name a file"
        );
        assert!(check_writable(Path::new("/dev/null"), false)
            .unwrap_err()
            .starts_with("not a regular file"));
        let long = dir.path().join("n".repeat(300));
        assert!(check_writable(&long, true)
            .unwrap_err()
            .starts_with("cannot read: "));
        // A file it may write in a directory where nothing can be created
        // (procfs): fine in place, refused when renamed over.
        let comm = Path::new("/proc/self/comm");
        assert_eq!(check_writable(comm, false), Ok(true));
        assert!(check_writable(comm, true)
            .unwrap_err()
            .starts_with("cannot create a file in the directory /proc/self"));
    }

    /// The file is replaced whole or not at all, and no temporary file is
    /// left behind either way.
    #[test]
    fn a_file_is_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plan.json");
        write_atomically(&f, b"first").unwrap();
        write_atomically(&f, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "second");
        let names = || -> Vec<String> {
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(), vec!["plan.json"]);
        // A directory where the file goes: refused, the old one kept.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x"), "x").unwrap();
        let e = write_atomically(&sub, b"third").unwrap_err();
        assert!(e.starts_with("cannot write"), "{e}");
        assert_eq!(std::fs::read_to_string(sub.join("x")).unwrap(), "x");
        let mut left = names();
        left.sort();
        assert_eq!(left, vec!["plan.json", "sub"]);
    }

    #[test]
    fn only_regular_files_within_the_bound() {
        let dir = std::env::temp_dir().join(format!("clusterctl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.txt");
        std::fs::write(&f, "hello").unwrap();
        assert_eq!(read_text_bounded(&f, 5).unwrap(), "hello");
        assert_eq!(
            read_bounded(&f, 4).unwrap_err(),
            "larger than 0 KiB; refusing to read it"
        );
        assert!(read_bounded(&dir, 1 << 20)
            .unwrap_err()
            .contains("directory"));
        let zero = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(zero.contains("not a regular file"), "{zero}");
        assert!(read_bounded(&dir.join("missing"), 1)
            .unwrap_err()
            .starts_with("cannot read"));
        // A FIFO is refused at once, not waited on.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(read_bounded(&fifo, 1).unwrap_err().contains("FIFO"));
        }
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert_eq!(read_text_bounded(&f, 10).unwrap_err(), "not UTF-8 text");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
