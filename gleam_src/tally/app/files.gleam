//// Writing files so that a crash leaves either the old or the new content
//// (`write_durably`: a temporary file, synced, renamed) or a whole
//// appended block (`append_durably`: appended and synced; JSON Lines files
//// with `append_lines_durably`, which first cuts off a line a crash tore).
////
//// Every file written here holds billing data (invoices, outbox items,
//// snapshots, rejected lines, late events), so it is created with the
//// `file_mode` of the `tally` application (default `0o600`, owner only;
//// `0o640` lets a group read it) before any byte goes in, and directories
//// made for it get the same bits plus search (`0o700` / `0o750`). A file
//// that already exists keeps its mode.
////
//// Nothing here raises on an I/O failure: a full disk, a read-only file
//// system or a missing permission comes back as `Error(reason)`, the
//// POSIX name (`"enospc"`), with any temporary file removed, so a caller
//// can report it and retry instead of crashing.

import tally/app/log

/// An open file (raw, binary).
pub type IoDevice

/// How a file is opened.
pub type Mode {
  Read
  Write
  Append
  Exclusive
}

/// What tally reads about a file: whether it is a regular file, its
/// identity (device, inode) and its size in bytes.
pub type FileInfo {
  FileInfo(regular: Bool, device: Int, inode: Int, size: Int)
}

const default_file_mode = 0o600

/// Replaces the file at `path` with `bytes`: all or nothing, synced, with
/// the parent directories made as needed.
///
/// ```gleam
/// files.write_durably("/var/lib/tally/closed.term", <<"[]":utf8>>)
/// // -> Ok(Nil)
/// ```
pub fn write_durably(path: String, bytes: BitArray) -> Result(Nil, String) {
  write_parts_durably(path, parts(bytes))
}

/// Bytes in pieces, written without being joined first (a batch file of
/// the engine's lines refers to them instead of copying 4 MiB).
pub type Parts

/// Bytes as parts.
@external(erlang, "tally_file_ffi", "identity")
pub fn parts(bytes: BitArray) -> Parts

/// Parts joined into one run of bytes.
@external(erlang, "erlang", "iolist_to_binary")
pub fn joined(bytes: Parts) -> BitArray

/// `write_durably` for bytes in parts.
pub fn write_parts_durably(path: String, bytes: Parts) -> Result(Nil, String) {
  let tmp = path <> ".tmp"
  let written = case ensure_dir(path) {
    Ok(Nil) -> with_file(tmp, [Write], bytes)
    Error(e) -> Error(e)
  }
  case written {
    Ok(Nil) ->
      case rename(tmp, path) {
        Ok(Nil) -> Ok(Nil)
        Error(e) -> {
          let _ = delete(tmp)
          Error(e)
        }
      }
    Error(e) -> {
      let _ = delete(tmp)
      Error(e)
    }
  }
}

/// Appends `bytes` to the file at `path` (made, with its directories, when
/// absent) and syncs it. Nothing to append: nothing done. On an error the
/// file is cut back to its size before (a full disk takes part of a write:
/// a retry must not append after a torn block).
///
/// ```gleam
/// files.append_durably("/var/lib/tally/rejects.jsonl", <<"{}\n":utf8>>)
/// // -> Ok(Nil)
/// ```
pub fn append_durably(path: String, bytes: BitArray) -> Result(Nil, String) {
  case byte_size(bytes) {
    0 -> Ok(Nil)
    _ ->
      case ensure_dir(path) {
        Ok(Nil) ->
          with_append_lock(path, fn() { append_or_restore(path, bytes) })
        Error(e) -> Error(e)
      }
  }
}

fn append_or_restore(path: String, bytes: BitArray) -> Result(Nil, String) {
  let before = file_size(path)
  case with_file(path, [Append], parts(bytes)) {
    Ok(Nil) -> Ok(Nil)
    Error(e) -> {
      let _ = truncate_at(path, before)
      Error(e)
    }
  }
}

// Appends to one file are taken one at a time in this VM (collectors share
// rejects.jsonl): a cut back on an error, or of a torn line, would else cut
// another process's append that is still being written.
@external(erlang, "tally_file_ffi", "with_append_lock")
fn with_append_lock(
  path: String,
  append: fn() -> Result(Nil, String),
) -> Result(Nil, String)

/// Appends whole lines (`bytes` ends with a newline) to the JSON Lines file
/// at `path`, as `append_durably`. A last line without its newline is an
/// append a crash cut short: it is cut off first (and logged), else the new
/// lines would run on from it and spoil the first of them.
pub fn append_lines_durably(
  path: String,
  bytes: BitArray,
) -> Result(Nil, String) {
  case byte_size(bytes) {
    0 -> Ok(Nil)
    _ ->
      case ensure_dir(path) {
        Ok(Nil) ->
          with_append_lock(path, fn() {
            case cut_torn(path) {
              Ok(Nil) -> append_or_restore(path, bytes)
              Error(why) -> Error(why)
            }
          })
        Error(e) -> Error(e)
      }
  }
}

/// Cuts the JSON Lines file at `path` back to its last newline, synced,
/// when it does not end with one (logged: a line a crash tore); nothing to
/// do for a whole or absent file.
pub fn cut_torn_line(path: String) -> Result(Nil, String) {
  with_append_lock(path, fn() { cut_torn(path) })
}

fn cut_torn(path: String) -> Result(Nil, String) {
  case cut_to_last_newline(path) {
    Ok(0) -> Ok(Nil)
    Ok(cut) -> {
      log.report(log.Warning, "a torn last line cut off", [
        #("path", path),
        #("bytes", int_to_text(cut)),
      ])
      Ok(Nil)
    }
    Error(why) -> Error(why)
  }
}

@external(erlang, "tally_file_ffi", "cut_torn_line")
fn cut_to_last_newline(path: String) -> Result(Int, String)

@external(erlang, "erlang", "integer_to_binary")
fn int_to_text(n: Int) -> String

/// Makes the parent directories of `path` (with `dir_mode()` for those it
/// makes).
pub fn ensure_dir(path: String) -> Result(Nil, String) {
  let parent = dirname(path)
  case is_dir(parent) {
    True -> Ok(Nil)
    False ->
      case parent == path {
        // The root or a drive: nothing above it to make.
        True -> Ok(Nil)
        False ->
          case ensure_dir(parent) {
            Error(e) -> Error(e)
            Ok(Nil) ->
              case make_dir(parent) {
                Ok(Nil) -> change_mode(parent, dir_mode())
                Error(e) -> Error(e)
              }
          }
      }
  }
}

/// The mode of files tally creates: the application's `file_mode`
/// setting, `0o600` by default.
pub fn file_mode() -> Int {
  case file_mode_setting() {
    Ok(mode) -> mode
    Error(Nil) -> default_file_mode
  }
}

/// The mode of directories tally creates: the file mode, with search
/// wherever it gives read (`0o600` gives `0o700`, `0o640` gives `0o750`).
pub fn dir_mode() -> Int {
  let mode = file_mode()
  int_or(mode, int_shr(int_and(mode, 0o444), 2))
}

// Opens, sets the mode of a file it creates (before any data goes in; a
// file that was there keeps the mode its owner gave it), writes, syncs,
// closes.
fn with_file(
  path: String,
  modes: List(Mode),
  bytes: Parts,
) -> Result(Nil, String) {
  let created = !exists(path)
  case open(path, modes) {
    Error(e) -> Error(e)
    Ok(io) -> {
      let moded = case created {
        True -> change_mode(path, file_mode())
        False -> Ok(Nil)
      }
      let written = case moded {
        Ok(Nil) ->
          case write_parts(io, bytes) {
            Ok(Nil) -> sync(io)
            Error(e) -> Error(e)
          }
        Error(e) -> Error(e)
      }
      let closed = close(io)
      case written, closed {
        Ok(Nil), Ok(Nil) -> Ok(Nil)
        Ok(Nil), Error(e) -> Error(e)
        Error(e), _ -> Error(e)
      }
    }
  }
}

/// Opens the file at `path` (raw, binary).
@external(erlang, "tally_file_ffi", "open")
pub fn open(path: String, modes: List(Mode)) -> Result(IoDevice, String)

/// Writes `bytes` at the device's position (the end, opened with `Append`).
@external(erlang, "tally_file_ffi", "write")
pub fn write(io: IoDevice, bytes: BitArray) -> Result(Nil, String)

@external(erlang, "tally_file_ffi", "write")
fn write_parts(io: IoDevice, bytes: Parts) -> Result(Nil, String)

/// Flushes what was written to the disk (fsync).
@external(erlang, "tally_file_ffi", "sync")
pub fn sync(io: IoDevice) -> Result(Nil, String)

/// Closes an open file.
@external(erlang, "tally_file_ffi", "close")
pub fn close(io: IoDevice) -> Result(Nil, String)

/// Up to `length` bytes from `offset`: fewer, or none, at the end of the file.
@external(erlang, "tally_file_ffi", "pread")
pub fn pread(io: IoDevice, offset: Int, length: Int) -> Result(BitArray, String)

/// Renames `from` to `to`, replacing `to` (atomic within a file system).
@external(erlang, "tally_file_ffi", "rename")
pub fn rename(from: String, to: String) -> Result(Nil, String)

/// Removes the file at `path`.
@external(erlang, "tally_file_ffi", "delete")
pub fn delete(path: String) -> Result(Nil, String)

/// Sets the permission bits of the file at `path` (`0o600`).
@external(erlang, "tally_file_ffi", "change_mode")
pub fn change_mode(path: String, mode: Int) -> Result(Nil, String)

/// Makes one directory (one already there is fine).
@external(erlang, "tally_file_ffi", "make_dir")
pub fn make_dir(path: String) -> Result(Nil, String)

/// Whether `path` is a directory.
@external(erlang, "tally_file_ffi", "is_dir")
pub fn is_dir(path: String) -> Bool

/// Whether anything is at `path` (a dangling link counts).
@external(erlang, "tally_file_ffi", "exists")
pub fn exists(path: String) -> Bool

/// The file at `path`, links followed.
@external(erlang, "tally_file_ffi", "stat")
pub fn stat(path: String) -> Result(FileInfo, String)

/// The file an open device reads (the same file when it was renamed since).
@external(erlang, "tally_file_ffi", "stat_io")
pub fn stat_io(io: IoDevice) -> Result(FileInfo, String)

/// The names in a directory, sorted.
@external(erlang, "tally_file_ffi", "list_dir")
pub fn list_dir(path: String) -> Result(List(String), String)

/// Cuts the file at `path` back to `length` bytes and syncs it (nothing
/// to do when it is shorter or absent).
@external(erlang, "tally_file_ffi", "truncate_at")
pub fn truncate_at(path: String, length: Int) -> Result(Nil, String)

/// The size of the file at `path`, 0 when there is none.
@external(erlang, "tally_file_ffi", "file_size")
pub fn file_size(path: String) -> Int

/// `path` without its last component (`"/a/b"` gives `"/a"`).
@external(erlang, "filename", "dirname")
pub fn dirname(path: String) -> String

/// The last component of `path`.
@external(erlang, "filename", "basename")
pub fn basename(path: String) -> String

/// `dir` and `name` joined with a `/`.
pub fn join(dir: String, name: String) -> String {
  join_pair([dir, name])
}

@external(erlang, "filename", "join")
fn join_pair(parts: List(String)) -> String

@external(erlang, "tally_file_ffi", "file_mode_setting")
fn file_mode_setting() -> Result(Int, Nil)

@external(erlang, "erlang", "byte_size")
fn byte_size(bytes: BitArray) -> Int

@external(erlang, "erlang", "band")
fn int_and(a: Int, b: Int) -> Int

@external(erlang, "erlang", "bor")
fn int_or(a: Int, b: Int) -> Int

@external(erlang, "erlang", "bsr")
fn int_shr(a: Int, b: Int) -> Int
