//// The outbox on disk: carries out what `tally/app/outbox_book` decides.
//// A put writes each batch to a temporary file, syncs it, renames it into
//// place, then syncs the directory once: one fsync per batch and one per
//// put, and an item is either whole on disk or absent. An acknowledgement
//// appends the keys' digests to their groups' `acked` files (synced) before
//// the batch file goes. An item the sink refuses for good is parked: appended
//// to `parked.jsonl` with its reason and removed without being remembered,
//// so a later put (a close again, once the operator fixed the cause) takes
//// it back. The actor (`tally/app/outbox`) calls these one at a time.

import tally/app/files
import tally/app/outbox_book as book
import tally/option
import tally/pure/bytes
import tally/pure/map

/// Why an outbox operation failed: which file operation, on which path.
pub type OutboxError {
  /// `reason` is the POSIX name (`"enospc"`).
  OutboxIo(action: String, path: String, reason: String)
  /// A batch file whose bytes are not a batch (written by something else).
  BadBatch(path: String)
}

/// An outbox open on its directory.
pub opaque type Outbox {
  Outbox(dir: String, book: book.Book, run: option.Option(Run))
}

/// Puts in a run (`put_in_run`): what was checked when the run began, kept
/// for its later puts, whose keys are new to the run.
type Run {
  Run(
    /// Nothing waited when the run began.
    nothing_waited: Bool,
    /// The keys that waited then.
    waiting: map.Map(String, Bool),
    /// The acknowledged digests of each group the run put, read when the
    /// run first put a key of the group (an empty set: none).
    acked: map.Map(String, map.Map(BitArray, Bool)),
  )
}

/// Opens the outbox in `dir` (made when missing): the batches found there,
/// the temporary files of unfinished puts removed, the oldest batch read
/// without the items acknowledged before a crash. Returns the names of
/// `.batch` files it cannot read by name, left alone.
pub fn open(dir: String) -> Result(#(Outbox, List(String)), OutboxError) {
  use _ <- try(io(
    "mkdir",
    acked_dir(dir),
    files.ensure_dir(files.join(acked_dir(dir), "x")),
  ))
  use names <- try(io("list", dir, files.list_dir(dir)))
  let found = book.recover(names)
  use _ <- try(delete_all(dir, found.unfinished))
  use outbox <- try(load_head(Outbox(dir, found.book, option.None), True))
  Ok(#(outbox, found.unknown))
}

fn delete_all(dir: String, names: List(String)) -> Result(Nil, OutboxError) {
  case names {
    [] -> Ok(Nil)
    [n, ..rest] -> {
      let path = files.join(dir, n)
      use _ <- try(io("delete", path, files.delete(path)))
      delete_all(dir, rest)
    }
  }
}

/// Items waiting.
pub fn size(outbox: Outbox) -> Int {
  book.size(outbox.book)
}

/// The batch files waiting, oldest first.
pub fn batch_files(outbox: Outbox) -> List(String) {
  map_files(book.batches(outbox.book))
}

fn map_files(batches: List(book.Batch)) -> List(String) {
  case batches {
    [] -> []
    [b, ..rest] -> [b.file, ..map_files(rest)]
  }
}

/// Stores the items durably, but those acknowledged before, waiting already,
/// or earlier in `items` (by key). On an error the batches written before it
/// stay stored (a put again skips them).
pub fn put(
  outbox: Outbox,
  items: List(book.Item),
) -> #(Outbox, Result(Nil, OutboxError)) {
  put_entries(outbox, one_each(items, []))
}

fn one_each(items: List(book.Item), acc: List(book.Entry)) -> List(book.Entry) {
  case items {
    [] -> bytes.reverse(acc)
    [i, ..rest] -> one_each(rest, [book.One(i), ..acc])
  }
}

/// `put` of entries: the engine's batches are stored as they are (one
/// file each, no line taken apart) when nothing waits and nothing of their
/// period and version was acknowledged; else they are taken apart and
/// checked like items. One fsync per batch file, one of the directory.
pub fn put_entries(
  outbox: Outbox,
  entries: List(book.Entry),
) -> #(Outbox, Result(Nil, OutboxError)) {
  let #(outbox, result) = put_in_run(outbox, entries, False)
  #(Outbox(..outbox, run: option.None), result)
}

/// `put_entries` as one put of a run: a close puts its lines a round at a
/// time. `continues`: the entries continue the run of the puts before
/// (since the last put with `continues` False), and none of their keys is
/// a key put earlier in the run (a close's lines each have a key of their
/// own). What waits and what was acknowledged is checked as the run began
/// (a key acknowledged since was waiting then, or was put by the run), so
/// its batches are stored as they are when the run began with nothing
/// waiting and nothing of their group acknowledged, however much of the
/// run waits by now. `end_run` forgets the run.
pub fn put_in_run(
  outbox: Outbox,
  entries: List(book.Entry),
  continues: Bool,
) -> #(Outbox, Result(Nil, OutboxError)) {
  let run = case continues, outbox.run {
    True, option.Some(run) -> Ok(run)
    // A run begins (or the outbox restarted within one: its puts wait
    // now, and the checks below take them for waiting keys, which they are).
    _, _ ->
      case book.size(outbox.book) {
        0 -> Ok(Run(True, map.new(), map.new()))
        _ ->
          case waiting_keys(outbox) {
            Ok(waiting) -> Ok(Run(False, waiting, map.new()))
            Error(e) -> Error(e)
          }
      }
  }
  case run {
    Error(e) -> #(outbox, Error(e))
    Ok(run) ->
      case run_groups(outbox.dir, run, entry_groups(entries, map.new())) {
        Error(e) -> #(Outbox(..outbox, run: option.None), Error(e))
        Ok(run) -> {
          let outbox = Outbox(..outbox, run: option.Some(run))
          let #(wholes, items) =
            book.sort_entries(entries, fn(b) {
              run.nothing_waited
              && map.size(acked_of(run, book.lines_group(b))) == 0
            })
          let fresh = book.fresh(items, run.waiting, run.acked)
          case write_wholes(outbox, book.plan_whole(outbox.book, wholes)) {
            #(outbox, Error(e)) -> #(outbox, Error(e))
            #(outbox, Ok(Nil)) ->
              case wholes, fresh {
                [], [] -> #(outbox, Ok(Nil))
                _, _ -> write_batches(outbox, book.plan_put(outbox.book, fresh))
              }
          }
        }
      }
  }
}

/// Forgets the run of `put_in_run` (what it read of the waiting and
/// acknowledged keys).
pub fn end_run(outbox: Outbox) -> Outbox {
  Outbox(..outbox, run: option.None)
}

fn acked_of(run: Run, group: String) -> map.Map(BitArray, Bool) {
  case map.get(run.acked, group) {
    Ok(set) -> set
    Error(Nil) -> map.new()
  }
}

// The groups of the entries' keys, each once.
fn entry_groups(
  entries: List(book.Entry),
  acc: map.Map(String, Bool),
) -> List(String) {
  case entries {
    [] -> map.keys(acc)
    [book.One(i), ..rest] ->
      entry_groups(rest, map.put(acc, book.group(i.key), True))
    [book.Lines(_, b), ..rest] ->
      entry_groups(rest, map.put(acc, book.lines_group(b), True))
  }
}

// The acknowledged digests of the groups the run meets for the first time.
fn run_groups(
  dir: String,
  run: Run,
  groups: List(String),
) -> Result(Run, OutboxError) {
  case groups {
    [] -> Ok(run)
    [g, ..rest] ->
      case map.get(run.acked, g) {
        Ok(_) -> run_groups(dir, run, rest)
        Error(Nil) -> {
          use set <- try(case has_acked(dir, g) {
            False -> Ok(map.new())
            True -> acked_set(dir, g)
          })
          run_groups(dir, Run(..run, acked: map.put(run.acked, g, set)), rest)
        }
      }
  }
}

// Whether anything of the group was acknowledged (its file holds a digest).
fn has_acked(dir: String, group: String) -> Bool {
  files.file_size(acked_path(dir, group)) >= 16
}

fn write_wholes(
  outbox: Outbox,
  wholes: List(book.NewWhole),
) -> #(Outbox, Result(Nil, OutboxError)) {
  case wholes {
    [] -> #(outbox, Ok(Nil))
    [w, ..rest] -> {
      let path = files.join(outbox.dir, w.batch.file)
      let bytes = book.encode_whole(w.subject, w.lines)
      case io("write", path, files.write_parts_durably(path, bytes)) {
        Ok(Nil) ->
          write_wholes(
            Outbox(..outbox, book: book.batch_written(outbox.book, w.batch)),
            rest,
          )
        Error(e) -> #(outbox, Error(e))
      }
    }
  }
}

fn write_batches(
  outbox: Outbox,
  batches: List(book.NewBatch),
) -> #(Outbox, Result(Nil, OutboxError)) {
  case batches {
    [] -> #(outbox, io("sync", outbox.dir, sync_dir(outbox.dir)))
    [nb, ..rest] -> {
      let path = files.join(outbox.dir, nb.batch.file)
      case io("write", path, files.write_durably(path, book.encode(nb.items))) {
        Ok(Nil) ->
          write_batches(
            Outbox(..outbox, book: book.batch_written(outbox.book, nb.batch)),
            rest,
          )
        Error(e) -> #(outbox, Error(e))
      }
    }
  }
}

// The keys waiting, read from the batches (a put is rare and its work is
// already proportional to the lines; nothing is held between puts).
fn waiting_keys(outbox: Outbox) -> Result(map.Map(String, Bool), OutboxError) {
  let #(head, others) = book.waiting(outbox.book)
  read_keys(outbox.dir, others, set_of(head, map.new()))
}

fn read_keys(
  dir: String,
  names: List(String),
  acc: map.Map(String, Bool),
) -> Result(map.Map(String, Bool), OutboxError) {
  case names {
    [] -> Ok(acc)
    [n, ..rest] -> {
      use items <- try(read_batch(dir, n))
      read_keys(dir, rest, set_of(book.keys(items, []), acc))
    }
  }
}

fn set_of(
  keys: List(String),
  acc: map.Map(String, Bool),
) -> map.Map(String, Bool) {
  case keys {
    [] -> acc
    [k, ..rest] -> set_of(rest, map.put(acc, k, True))
  }
}

/// Up to `n` of the oldest items, without removing them.
pub fn peek(
  outbox: Outbox,
  n: Int,
) -> #(Outbox, Result(List(book.Item), OutboxError)) {
  case load_head(outbox, False) {
    Ok(outbox) -> #(outbox, Ok(book.peek(outbox.book, n)))
    Error(e) -> #(outbox, Error(e))
  }
}

/// The oldest batch: the engine's batch whole when it is stored as it is
/// and none of it was acknowledged (for `ack_batch`), else up to `n` items.
pub fn peek_batch(
  outbox: Outbox,
  n: Int,
) -> #(Outbox, Result(book.Peeked, OutboxError)) {
  case load_head(outbox, False) {
    Ok(outbox) -> #(outbox, Ok(book.peek_batch(outbox.book, n)))
    Error(e) -> #(outbox, Error(e))
  }
}

/// Acknowledges every item of the engine's batch with these `ids` (from
/// `peek_batch`): its keys remembered, its file removed, no item taken
/// apart; when it is not the head any more, its keys are acknowledged.
pub fn ack_batch(
  outbox: Outbox,
  ids: BitArray,
) -> #(Outbox, Result(Nil, OutboxError)) {
  let keys = split_lines(ids)
  case book.ack_whole(outbox.book, ids) {
    Error(Nil) -> ack(outbox, keys)
    Ok(#(b, file)) ->
      case remember(outbox.dir, book.to_remember_whole(ids, keys)) {
        Error(e) -> #(outbox, Error(e))
        Ok(Nil) -> {
          let path = files.join(outbox.dir, file)
          #(Outbox(..outbox, book: b), io("delete", path, files.delete(path)))
        }
      }
  }
}

@external(erlang, "tally_outbox_ffi", "split_lines")
fn split_lines(text: BitArray) -> List(String)

/// Removes acknowledged items and remembers their keys as acknowledged
/// (durably, first: a crash between the two publishes nothing twice).
pub fn ack(
  outbox: Outbox,
  keys: List(String),
) -> #(Outbox, Result(Nil, OutboxError)) {
  case keys {
    [] -> #(outbox, Ok(Nil))
    _ ->
      case remember(outbox.dir, book.to_remember(keys)) {
        Ok(Nil) -> remove(outbox, keys)
        Error(e) -> #(outbox, Error(e))
      }
  }
}

/// Moves the waiting items with these keys to `parked.jsonl` with the
/// reason they cannot be published (not remembered as acknowledged).
pub fn park(
  outbox: Outbox,
  keys: List(String),
  why: String,
) -> #(Outbox, Result(Nil, OutboxError)) {
  let path = files.join(outbox.dir, "parked.jsonl")
  case book.parked_lines(outbox.book, keys, why) {
    [] -> #(outbox, Ok(Nil))
    lines ->
      case
        io(
          "append",
          path,
          files.append_lines_durably(path, concat(to_bits(lines))),
        )
      {
        Ok(Nil) -> remove(outbox, keys)
        Error(e) -> #(outbox, Error(e))
      }
  }
}

fn to_bits(lines: List(String)) -> List(BitArray) {
  case lines {
    [] -> []
    [l, ..rest] -> [<<l:utf8>>, ..to_bits(rest)]
  }
}

fn remove(
  outbox: Outbox,
  keys: List(String),
) -> #(Outbox, Result(Nil, OutboxError)) {
  let #(b, drop) = book.remove(outbox.book, keys)
  let outbox = Outbox(..outbox, book: b)
  case drop {
    Error(Nil) -> #(outbox, Ok(Nil))
    Ok(file) -> {
      let path = files.join(outbox.dir, file)
      #(outbox, io("delete", path, files.delete(path)))
    }
  }
}

/// Whether the key was acknowledged once (from the durable memory).
pub fn acked(outbox: Outbox, key: String) -> Result(Bool, OutboxError) {
  let g = book.group(key)
  use set <- try(acked_set(outbox.dir, g))
  Ok(book.is_acked(key, set))
}

// Reads the head batch when it is not held: with `filter`, without the
// items acknowledged already (after a restart); a batch with none left is
// deleted and the next one read.
fn load_head(outbox: Outbox, filter: Bool) -> Result(Outbox, OutboxError) {
  case book.head_to_load(outbox.book) {
    Error(Nil) -> Ok(outbox)
    Ok(batch) -> {
      use stored <- try(read_stored(outbox.dir, batch.file))
      case stored, filter {
        // The engine's batch, nothing to filter: kept whole, its lines not
        // taken apart into items.
        book.StoredLines(subject, lines), False ->
          case lines.count == batch.count {
            True ->
              Ok(
                Outbox(
                  ..outbox,
                  book: book.head_whole(outbox.book, subject, lines),
                ),
              )
            False -> load_items(outbox, batch, stored, filter)
          }
        _, _ -> load_items(outbox, batch, stored, filter)
      }
    }
  }
}

fn load_items(
  outbox: Outbox,
  batch: book.Batch,
  stored: book.Stored,
  filter: Bool,
) -> Result(Outbox, OutboxError) {
  let items = book.stored_items(stored)
  use items <- try(case filter {
    False -> Ok(items)
    // Only the head's digests are looked for: a restart holds no
    // more than one batch's worth of the memory of acknowledged keys.
    True -> {
      let wanted = book.digests_of(book.keys(items, []))
      use acked <- try(acked_among(outbox.dir, book.groups(items), wanted))
      Ok(book.not_acked(items, acked))
    }
  })
  case stored, bytes.length(items) == batch.count {
    // The engine's batch, none of it acknowledged: kept whole.
    book.StoredLines(subject, lines), True ->
      Ok(Outbox(..outbox, book: book.head_whole(outbox.book, subject, lines)))
    _, _ -> {
      let #(b, drop) = book.head_loaded(outbox.book, items)
      let outbox = Outbox(..outbox, book: b)
      case drop {
        Error(Nil) -> Ok(outbox)
        Ok(file) -> {
          let path = files.join(outbox.dir, file)
          use _ <- try(io("delete", path, files.delete(path)))
          load_head(outbox, filter)
        }
      }
    }
  }
}

fn read_stored(dir: String, name: String) -> Result(book.Stored, OutboxError) {
  let path = files.join(dir, name)
  use bytes <- try(io("read", path, read_file(path)))
  case book.decode_stored(bytes) {
    Ok(stored) -> Ok(stored)
    Error(Nil) -> Error(BadBatch(path))
  }
}

fn read_batch(
  dir: String,
  name: String,
) -> Result(List(book.Item), OutboxError) {
  let path = files.join(dir, name)
  use bytes <- try(io("read", path, read_file(path)))
  case book.decode(bytes) {
    Ok(items) -> Ok(items)
    Error(Nil) -> Error(BadBatch(path))
  }
}

// The memory of acknowledged keys ------------------------------------------

fn acked_dir(dir: String) -> String {
  files.join(dir, "acked")
}

fn acked_path(dir: String, group: String) -> String {
  files.join(acked_dir(dir), book.acked_file(group))
}

fn acked_set(
  dir: String,
  group: String,
) -> Result(map.Map(BitArray, Bool), OutboxError) {
  let path = acked_path(dir, group)
  case read_file(path) {
    Ok(bytes) -> Ok(book.digest_set(bytes))
    Error("enoent") -> Ok(map.new())
    Error(e) -> Error(OutboxIo("read", path, e))
  }
}

fn acked_among(
  dir: String,
  groups: List(String),
  wanted: map.Map(BitArray, Bool),
) -> Result(map.Map(String, map.Map(BitArray, Bool)), OutboxError) {
  case groups {
    [] -> Ok(map.new())
    [g, ..rest] -> {
      let path = acked_path(dir, g)
      use found <- try(case read_file(path) {
        Ok(bytes) -> Ok(book.digests_among(bytes, wanted))
        Error("enoent") -> Ok(map.new())
        Error(e) -> Error(OutboxIo("read", path, e))
      })
      use others <- try(acked_among(dir, rest, wanted))
      Ok(map.put(others, g, found))
    }
  }
}

// A partial digest at the end of a group's file is an append a crash cut
// short (its acknowledgement never returned, so its keys come again): cut
// off before the next append, which would else shift every digest after it.
fn whole_digests(path: String) -> Result(Nil, OutboxError) {
  let size = files.file_size(path)
  case size % 16 {
    0 -> Ok(Nil)
    partial -> io("truncate", path, files.truncate_at(path, size - partial))
  }
}

// Appends the digests to their groups' files, synced; a new file's
// directory entry is synced too.
fn remember(
  dir: String,
  groups: List(#(String, List(BitArray))),
) -> Result(Nil, OutboxError) {
  case groups {
    [] -> Ok(Nil)
    [#(g, digests), ..rest] -> {
      let path = acked_path(dir, g)
      let new = !files.exists(path)
      use _ <- try(whole_digests(path))
      use _ <- try(io(
        "append",
        path,
        files.append_durably(path, concat(digests)),
      ))
      use _ <- try(case new {
        True -> io("sync", acked_dir(dir), sync_dir(acked_dir(dir)))
        False -> Ok(Nil)
      })
      remember(dir, rest)
    }
  }
}

fn io(
  action: String,
  path: String,
  result: Result(a, String),
) -> Result(a, OutboxError) {
  case result {
    Ok(x) -> Ok(x)
    Error(e) -> Error(OutboxIo(action, path, e))
  }
}

fn try(r: Result(a, e), next: fn(a) -> Result(b, e)) -> Result(b, e) {
  case r {
    Ok(x) -> next(x)
    Error(e) -> Error(e)
  }
}

/// The error in words, for a log or a failed start.
pub fn describe(error: OutboxError) -> String {
  case error {
    OutboxIo(action, path, reason) ->
      "outbox: cannot " <> action <> " " <> path <> ": " <> reason
    BadBatch(path) -> "outbox: not a batch file: " <> path
  }
}

// A file's bytes; the POSIX name of what went wrong (`"enoent"`).
@external(erlang, "tally_outbox_ffi", "read_file")
fn read_file(path: String) -> Result(BitArray, String)

// Syncs a directory: the renames and creations in it become durable.
@external(erlang, "tally_outbox_ffi", "sync_dir")
fn sync_dir(dir: String) -> Result(Nil, String)

@external(erlang, "erlang", "list_to_bitstring")
fn concat(pieces: List(BitArray)) -> BitArray
