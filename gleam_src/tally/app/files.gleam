//// The file operations of the outbox and the closer, typed: durable writes
//// (temporary file, fsync, rename) and appends through `tally_files` (the
//// application's file mode), directory listing and syncing through
//// `tally_outbox_ffi`. Nothing here raises: a full disk or a missing
//// permission comes back as an error value.

/// Why a file operation failed: the file is not there, or the POSIX reason
/// (`"enospc"`, `"eacces"`, ...).
pub type FileError {
  NotFound
  Failed(reason: String)
}

/// The names in a directory, sorted bytewise.
@external(erlang, "tally_outbox_ffi", "list_dir")
pub fn list_dir(dir: String) -> Result(List(String), FileError)

/// A file's bytes.
@external(erlang, "tally_outbox_ffi", "read_file")
pub fn read(path: String) -> Result(BitArray, FileError)

/// Removes a file.
@external(erlang, "tally_outbox_ffi", "delete")
pub fn delete(path: String) -> Result(Nil, FileError)

/// Replaces a file whole: written to `path.tmp`, synced, renamed. A crash
/// leaves the old content or the new. Sync the directory for the rename to
/// be durable.
@external(erlang, "tally_outbox_ffi", "write_durably")
pub fn write_durably(path: String, bytes: BitArray) -> Result(Nil, FileError)

/// Appends the pieces to a file (made when missing), synced.
@external(erlang, "tally_outbox_ffi", "append_durably")
pub fn append_durably(
  path: String,
  pieces: List(BitArray),
) -> Result(Nil, FileError)

/// Makes a directory and its parents.
@external(erlang, "tally_outbox_ffi", "ensure_dir")
pub fn ensure_dir(dir: String) -> Result(Nil, FileError)

/// Syncs a directory: the renames and creations in it become durable.
@external(erlang, "tally_outbox_ffi", "sync_dir")
pub fn sync_dir(dir: String) -> Result(Nil, FileError)

/// Whether `path` is a regular file.
@external(erlang, "filelib", "is_regular")
pub fn is_file(path: String) -> Bool

/// `dir/name`.
pub fn join(dir: String, name: String) -> String {
  dir <> "/" <> name
}
