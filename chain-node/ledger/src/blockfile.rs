//! Append-only block files: `blocks/NNNNNN.blk`, each a sequence of framed
//! records `[len: u32 BE][crc32(len ++ bytes): u32 BE][bytes]`.
//!
//! Files are only appended to while the ledger runs and only truncated by
//! [`BlockWriter::recover`] at open, so a read handle opened once stays valid.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

use crate::{Error, Result};

/// Bytes of the record header (length + checksum).
pub(crate) const RECORD_HEADER: u64 = 8;

/// Largest record payload read back: the encoded-block decoder refuses far
/// smaller blocks, so a larger length can only be corruption, and checking
/// it first keeps a bad length from allocating gigabytes.
pub(crate) const MAX_RECORD: u32 = 1 << 30;

/// Read handles kept open at once; past this the cache starts over, which
/// bounds file descriptors on ledgers with thousands of block files.
const MAX_OPEN_READERS: usize = 64;

/// Where one block's record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    /// Number of the block file.
    pub file: u32,
    /// Offset of the record header within the file.
    pub offset: u64,
    /// Length of the payload (the encoded block).
    pub len: u32,
}

impl Location {
    /// Offset just past the record.
    pub fn end(&self) -> u64 {
        self.offset + RECORD_HEADER + u64::from(self.len)
    }
}

pub(crate) fn file_name(file: u32) -> String {
    format!("{file:06}.blk")
}

fn checksum(len: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_be_bytes());
    h.update(bytes);
    h.finalize()
}

/// The framed record of `bytes`.
pub(crate) fn frame(bytes: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&l| l <= MAX_RECORD)
        .ok_or(Error::BlockTooLarge(bytes.len()))?;
    let mut out = Vec::with_capacity(bytes.len() + RECORD_HEADER as usize);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&checksum(len, bytes).to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(out)
}

pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { op, path: path.to_owned(), source }
}

/// Makes the creation or removal of files in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("sync directory", dir))
}

/// The numbers of the block files present in `dir`, ascending.
fn list_files(dir: &Path) -> Result<Vec<u32>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name.strip_suffix(".blk").and_then(|s| s.parse::<u32>().ok())
            && name == file_name(n)
        {
            files.push(n);
        }
    }
    files.sort_unstable();
    Ok(files)
}

/// What [`BlockWriter::recover`] did to the block files.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Bytes cut from the end of the last indexed file.
    pub truncated: u64,
    /// Files after the last indexed one, removed.
    pub removed: Vec<u32>,
}

/// Appends records; held under the ledger's commit lock.
#[derive(Debug)]
pub(crate) struct BlockWriter {
    dir: PathBuf,
    max_file_size: u64,
    file_no: u32,
    file: File,
    end: u64,
}

impl BlockWriter {
    /// Brings the block files back to the committed end `(file, end)` (or to
    /// nothing before genesis): bytes after it were written by a commit whose
    /// index batch never became durable, so no caller was ever told they
    /// exist. Fails if committed data is missing.
    pub fn recover(
        dir: &Path,
        max_file_size: u64,
        committed: Option<(u32, u64)>,
    ) -> Result<(Self, Recovery)> {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let files = list_files(dir)?;
        let (file_no, end) = committed.unwrap_or((0, 0));
        let mut recovery = Recovery::default();
        for &n in &files {
            if n > file_no || (committed.is_none() && n != 0) {
                let path = dir.join(file_name(n));
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
                recovery.removed.push(n);
            }
        }
        if committed.is_some()
            && let Some(missing) = (0..=file_no).find(|n| files.binary_search(n).is_err())
        {
            return Err(Error::Corrupt(format!(
                "block file {} is missing but the index refers to blocks up to file {}",
                file_name(missing),
                file_name(file_no)
            )));
        }
        let path = dir.join(file_name(file_no));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(committed.is_none())
            .truncate(false)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let size = file.metadata().map_err(io_err("stat", &path))?.len();
        if size < end {
            return Err(Error::Corrupt(format!(
                "block file {} holds {size} bytes but the index says committed blocks end at byte {end}",
                path.display()
            )));
        }
        if size > end {
            file.set_len(end).map_err(io_err("truncate", &path))?;
            file.sync_all().map_err(io_err("sync", &path))?;
            recovery.truncated = size - end;
        }
        if committed.is_none() || !recovery.removed.is_empty() {
            sync_dir(dir)?;
        }
        let writer = BlockWriter { dir: dir.to_owned(), max_file_size, file_no, file, end };
        Ok((writer, recovery))
    }

    /// Byte after the last record, in the current file.
    pub fn position(&self) -> (u32, u64) {
        (self.file_no, self.end)
    }

    /// Appends one framed record and syncs it to disk; rolls to a new file
    /// first when the current one would grow past its size limit.
    pub fn append(&mut self, record: &[u8]) -> Result<Location> {
        let len = record.len() as u64;
        if self.end > 0 && self.end + len > self.max_file_size {
            self.roll()?;
        }
        let path = self.dir.join(file_name(self.file_no));
        self.file.write_all_at(record, self.end).map_err(io_err("write", &path))?;
        // fdatasync also persists the grown file size, which reading the
        // record back depends on.
        self.file.sync_data().map_err(io_err("sync", &path))?;
        let loc = Location {
            file: self.file_no,
            offset: self.end,
            len: u32::try_from(len.saturating_sub(RECORD_HEADER)).unwrap_or(u32::MAX),
        };
        self.end += len;
        Ok(loc)
    }

    fn roll(&mut self) -> Result<()> {
        let next = self
            .file_no
            .checked_add(1)
            .ok_or_else(|| Error::Corrupt("block file numbers exhausted".into()))?;
        let path = self.dir.join(file_name(next));
        // Truncating is safe: recovery removed every file after the
        // committed one, so a file here holds no committed block.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        sync_dir(&self.dir)?;
        tracing::debug!(target: "govchain::ledger", file = %path.display(), "rolled to a new block file");
        self.file = file;
        self.file_no = next;
        self.end = 0;
        Ok(())
    }
}

/// Shared read access to the block files.
#[derive(Debug)]
pub(crate) struct BlockReader {
    dir: PathBuf,
    open: RwLock<HashMap<u32, Arc<File>>>,
}

impl BlockReader {
    pub fn new(dir: &Path) -> Self {
        BlockReader { dir: dir.to_owned(), open: RwLock::new(HashMap::new()) }
    }

    fn handle(&self, file: u32) -> Result<Arc<File>> {
        if let Some(f) = self.open.read().unwrap_or_else(PoisonError::into_inner).get(&file) {
            return Ok(f.clone());
        }
        let path = self.dir.join(file_name(file));
        let f = Arc::new(File::open(&path).map_err(io_err("open", &path))?);
        let mut open = self.open.write().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= MAX_OPEN_READERS {
            open.clear();
        }
        open.insert(file, f.clone());
        Ok(f)
    }

    fn read_at(&self, file: u32, offset: u64, len: usize) -> Result<Vec<u8>> {
        let f = self.handle(file)?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::Corrupt(format!(
                    "block file {} ends before byte {} that the index refers to",
                    file_name(file),
                    offset + len as u64
                ))
            } else {
                Error::Io { op: "read", path: self.dir.join(file_name(file)), source: e }
            }
        })?;
        Ok(buf)
    }

    /// The payload of the record at `loc`, after checking its frame.
    pub fn record(&self, loc: Location) -> Result<Vec<u8>> {
        if loc.len > MAX_RECORD {
            return Err(Error::Corrupt(format!("indexed block length {} is implausible", loc.len)));
        }
        let head = self.read_at(loc.file, loc.offset, RECORD_HEADER as usize)?;
        let mut len = [0u8; 4];
        let mut crc = [0u8; 4];
        len.copy_from_slice(&head[..4]);
        crc.copy_from_slice(&head[4..]);
        let len = u32::from_be_bytes(len);
        if len != loc.len {
            return Err(Error::Corrupt(format!(
                "record at {}:{} has length {len}, the index says {}",
                file_name(loc.file),
                loc.offset,
                loc.len
            )));
        }
        let bytes = self.read_at(loc.file, loc.offset + RECORD_HEADER, len as usize)?;
        if checksum(len, &bytes) != u32::from_be_bytes(crc) {
            return Err(Error::Corrupt(format!(
                "record at {}:{} fails its checksum",
                file_name(loc.file),
                loc.offset
            )));
        }
        Ok(bytes)
    }

    /// Raw bytes inside a record (a transaction), unchecked by the frame;
    /// the caller checks them against the hash it looked them up by.
    pub fn slice(&self, file: u32, offset: u64, len: u32) -> Result<Vec<u8>> {
        if len > MAX_RECORD {
            return Err(Error::Corrupt(format!("indexed transaction length {len} is implausible")));
        }
        self.read_at(file, offset, len as usize)
    }

    /// Size of a block file on disk.
    pub fn file_len(&self, file: u32) -> Result<u64> {
        let path = self.dir.join(file_name(file));
        Ok(fs::metadata(&path).map_err(io_err("stat", &path))?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, rec) = BlockWriter::recover(dir.path(), 1 << 20, None).unwrap();
        assert_eq!(rec, Recovery::default());
        let a = w.append(&frame(b"hello").unwrap()).unwrap();
        let b = w.append(&frame(b"world!").unwrap()).unwrap();
        assert_eq!(a, Location { file: 0, offset: 0, len: 5 });
        assert_eq!(b.offset, a.end());
        let r = BlockReader::new(dir.path());
        assert_eq!(r.record(a).unwrap(), b"hello");
        assert_eq!(r.record(b).unwrap(), b"world!");
        assert!(matches!(r.record(Location { len: 4, ..a }), Err(Error::Corrupt(_))));

        // Flip one payload byte: the checksum catches it.
        let path = dir.path().join(file_name(0));
        let mut raw = fs::read(&path).unwrap();
        raw[9] ^= 1;
        fs::write(&path, &raw).unwrap();
        let r = BlockReader::new(dir.path());
        assert!(matches!(r.record(a), Err(Error::Corrupt(_))));
        assert_eq!(r.record(b).unwrap(), b"world!");
    }

    #[test]
    fn rolls_files_at_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = BlockWriter::recover(dir.path(), 20, None).unwrap();
        let a = w.append(&frame(&[1; 10]).unwrap()).unwrap();
        let b = w.append(&frame(&[2; 10]).unwrap()).unwrap();
        // A record bigger than the limit still goes in, alone.
        let c = w.append(&frame(&[3; 40]).unwrap()).unwrap();
        assert_eq!((a.file, b.file, c.file), (0, 1, 2));
        assert_eq!(list_files(dir.path()).unwrap(), vec![0, 1, 2]);
        let r = BlockReader::new(dir.path());
        assert_eq!(r.record(c).unwrap(), vec![3; 40]);
    }

    #[test]
    fn recovery_cuts_uncommitted_bytes_and_refuses_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = BlockWriter::recover(dir.path(), 40, None).unwrap();
        let a = w.append(&frame(&[1; 10]).unwrap()).unwrap();
        let b = w.append(&frame(&[2; 10]).unwrap()).unwrap();
        let c = w.append(&frame(&[3; 10]).unwrap()).unwrap();
        assert_eq!((a.file, b.file, c.file), (0, 0, 1));
        drop(w);

        // Only `a` was committed: the rest of file 0 and all of file 1 go.
        let (w, rec) = BlockWriter::recover(dir.path(), 40, Some((0, a.end()))).unwrap();
        assert_eq!(rec, Recovery { truncated: b.end() - a.end(), removed: vec![1] });
        assert_eq!(w.position(), (0, a.end()));
        assert_eq!(list_files(dir.path()).unwrap(), vec![0]);
        drop(w);

        // The index claims more than the file holds: corruption, not recovery.
        let err = BlockWriter::recover(dir.path(), 40, Some((0, a.end() + 1))).unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        let err = BlockWriter::recover(dir.path(), 40, Some((1, 0))).unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        // Before genesis everything goes.
        let (w, rec) = BlockWriter::recover(dir.path(), 40, None).unwrap();
        assert_eq!(rec.truncated, a.end());
        assert_eq!(w.position(), (0, 0));
    }
}
