//// tally/app/files: the modes of the files tally creates, and errors
//// (never a crash) when the disk is full.

import tally/app/files
import tally/expect
import tally/option
import tally/otp/process
import tally/pure/bytes

pub fn files_and_directories_are_for_the_owner_only_by_default_test() {
  use <- with_file_mode(option.None)
  let dir = tmp_dir()
  let snapshot = dir <> "/shards/0.snapshot"
  let invoices = dir <> "/sink/invoices.jsonl"
  expect.equal(files.write_durably(snapshot, <<"state":utf8>>), Ok(Nil))
  expect.equal(files.append_durably(invoices, <<"{}\n":utf8>>), Ok(Nil))
  expect.equal(files.append_durably(invoices, <<"{}\n":utf8>>), Ok(Nil))
  expect.equal(mode_of(snapshot), 0o600)
  expect.equal(mode_of(invoices), 0o600)
  expect.equal(mode_of(dir <> "/shards"), 0o700)
  expect.equal(mode_of(dir <> "/sink"), 0o700)
  expect.equal(read_file(invoices), Ok(<<"{}\n{}\n":utf8>>))
  expect.equal(read_file(snapshot), Ok(<<"state":utf8>>))
  // Nothing to append: no file made.
  expect.equal(files.append_durably(dir <> "/none/x", <<>>), Ok(Nil))
  expect.equal(files.exists(dir <> "/none"), False)
}

pub fn the_file_mode_setting_gives_a_group_read_access_test() {
  use <- with_file_mode(option.Some(0o640))
  let dir = tmp_dir()
  let item = dir <> "/outbox/0.item"
  expect.equal(files.write_durably(item, <<"x":utf8>>), Ok(Nil))
  expect.equal(mode_of(item), 0o640)
  expect.equal(mode_of(dir <> "/outbox"), 0o750)
  expect.equal(files.dir_mode(), 0o750)
}

pub fn a_file_that_already_exists_keeps_its_mode_test() {
  let dir = tmp_dir()
  let path = dir <> "/rejects.jsonl"
  write_file(path, <<>>)
  expect.equal(files.change_mode(path, 0o604), Ok(Nil))
  expect.equal(files.append_durably(path, <<"line\n":utf8>>), Ok(Nil))
  expect.equal(mode_of(path), 0o604)
}

// /dev/full answers every write with ENOSPC: a link to it stands for a full disk.
pub fn a_full_disk_is_an_error_not_a_crash_test() {
  let dir = tmp_dir()
  let appended = dir <> "/invoices.jsonl"
  symlink("/dev/full", appended)
  expect.equal(
    files.append_durably(appended, <<"line\n":utf8>>),
    Error("enospc"),
  )
  let written = dir <> "/closed.term"
  write_file(written, <<"old":utf8>>)
  symlink("/dev/full", written <> ".tmp")
  expect.equal(files.write_durably(written, <<"new":utf8>>), Error("enospc"))
  // The old content stands and the temporary file is gone.
  expect.equal(read_file(written), Ok(<<"old":utf8>>))
  expect.equal(files.exists(written <> ".tmp"), False)
}

// A disk that fills up part way through an append: the bytes that fitted
// are taken back, so a retry once there is room appends the block whole
// (neither a torn line nor, after it, the block's first lines twice).
pub fn an_append_that_fails_part_way_leaves_the_file_as_it_was_test() {
  case
    with_small_disk(64, fn(dir) {
      let path = dir <> "/invoices.jsonl"
      expect.equal(files.append_durably(path, <<"first\n":utf8>>), Ok(Nil))
      let big = repeat(<<"0123456789abcdef":utf8>>, 8192, <<>>)
      expect.equal(files.append_durably(path, big), Error("enospc"))
      read_file(path)
    })
  {
    Ok(after) -> expect.equal(after, Ok(<<"first\n":utf8>>))
    // No tmpfs without root: nothing to fill up.
    Error(Nil) -> Nil
  }
}

// Collectors append to one rejects.jsonl at the same time: every line of
// every append is kept whole (a torn-line check must never take another
// process's append, still being written, for a torn line).
pub fn appends_from_several_processes_keep_every_line_test() {
  let path = tmp_dir() <> "/rejects.jsonl"
  let done = process.new_subject()
  let writers = [1, 2, 3, 4]
  each(writers, fn(w) {
    process.spawn(fn() {
      let line = repeat(<<"x":utf8>>, 200, <<"{\"w\":":utf8, w, ",\"":utf8>>)
      let block = repeat(<<line:bits, "\"}\n":utf8>>, 2000, <<>>)
      append_times(path, block, 10)
      process.send(done, w)
    })
  })
  each(writers, fn(_) { process.receive_forever(done) })
  let assert Ok(contents) = read_file(path)
  expect.equal(bytes.size(contents), 4 * 10 * 2000 * 211)
  expect.equal(count_whole(bytes.split_lines(contents), 0), 4 * 10 * 2000)
}

fn append_times(path: String, block: BitArray, n: Int) -> Nil {
  case n {
    0 -> Nil
    _ -> {
      let assert Ok(Nil) = files.append_lines_durably(path, block)
      append_times(path, block, n - 1)
    }
  }
}

fn each(list: List(a), f: fn(a) -> b) -> Nil {
  case list {
    [] -> Nil
    [x, ..rest] -> {
      let _ = f(x)
      each(rest, f)
    }
  }
}

// Lines as written: 210 bytes, `{"w":` to `"}`.
fn count_whole(lines: List(BitArray), n: Int) -> Int {
  case lines {
    [] -> n
    [l, ..rest] ->
      case
        bytes.size(l) == 210
        && bytes.starts_with(l, 0, <<"{\"w\":":utf8>>)
        && bytes.at(l, 209) == 125
      {
        True -> count_whole(rest, n + 1)
        False -> count_whole(rest, n)
      }
  }
}

fn repeat(part: BitArray, times: Int, acc: BitArray) -> BitArray {
  case times {
    0 -> acc
    _ -> repeat(part, times - 1, <<acc:bits, part:bits>>)
  }
}

pub fn a_directory_that_cannot_be_made_is_an_error_not_a_crash_test() {
  let dir = tmp_dir()
  let blocker = dir <> "/shards"
  write_file(blocker, <<>>)
  expect.be_true(
    files.write_durably(blocker <> "/0.snapshot", <<"x":utf8>>) != Ok(Nil),
    "write under a file",
  )
  expect.be_true(
    files.append_durably(blocker <> "/late-0.jsonl", <<"x":utf8>>) != Ok(Nil),
    "append under a file",
  )
}

pub fn a_file_is_cut_back_and_read_by_position_test() {
  let dir = tmp_dir()
  let path = dir <> "/late-0.jsonl"
  write_file(path, <<"0123456789":utf8>>)
  expect.equal(files.truncate_at(path, 20), Ok(Nil))
  expect.equal(files.file_size(path), 10)
  expect.equal(files.truncate_at(path, 4), Ok(Nil))
  expect.equal(read_file(path), Ok(<<"0123":utf8>>))
  expect.equal(files.truncate_at(dir <> "/absent", 0), Ok(Nil))
  let assert Ok(io) = files.open(path, [files.Read])
  expect.equal(files.pread(io, 1, 2), Ok(<<"12":utf8>>))
  expect.equal(files.pread(io, 3, 100), Ok(<<"3":utf8>>))
  expect.equal(files.pread(io, 9, 100), Ok(<<>>))
  // The identity of the open file is the path's, and stays when renamed.
  let assert Ok(by_io) = files.stat_io(io)
  let assert Ok(by_path) = files.stat(path)
  expect.equal(by_io, by_path)
  expect.equal(by_io.regular, True)
  expect.equal(by_io.size, 4)
  expect.equal(files.rename(path, path <> ".1"), Ok(Nil))
  expect.equal(files.stat_io(io), files.stat(path <> ".1"))
  expect.equal(files.close(io), Ok(Nil))
  expect.equal(files.list_dir(dir), Ok(["late-0.jsonl.1"]))
  expect.be_true(files.stat(path) != Ok(by_path), "nothing at the old path")
}

pub fn lines_are_appended_after_a_torn_line_is_cut_off_test() {
  let dir = tmp_dir()
  let path = dir <> "/rejects.jsonl"
  // Absent, then whole: nothing to cut.
  expect.equal(files.append_lines_durably(path, <<"a\n":utf8>>), Ok(Nil))
  expect.equal(files.append_lines_durably(path, <<"b\n":utf8>>), Ok(Nil))
  expect.equal(read_file(path), Ok(<<"a\nb\n":utf8>>))
  // A crash tore the next append.
  write_file(path, <<"a\nb\n{\"torn":utf8>>)
  expect.equal(files.append_lines_durably(path, <<"c\n":utf8>>), Ok(Nil))
  expect.equal(read_file(path), Ok(<<"a\nb\nc\n":utf8>>))
  // A torn first line, and one longer than the 64 KiB read back at a time.
  write_file(path, <<"torn":utf8>>)
  expect.equal(files.cut_torn_line(path), Ok(Nil))
  expect.equal(read_file(path), Ok(<<>>))
  let long = repeat(<<"x":utf8>>, 100_000, <<>>)
  write_file(path, <<"a\n":utf8, long:bits>>)
  expect.equal(files.cut_torn_line(path), Ok(Nil))
  expect.equal(read_file(path), Ok(<<"a\n":utf8>>))
  expect.equal(files.cut_torn_line(dir <> "/absent"), Ok(Nil))
}

@external(erlang, "tally_app_test_ffi", "tmp_dir")
fn tmp_dir() -> String

@external(erlang, "tally_app_test_ffi", "mode_of")
fn mode_of(path: String) -> Int

@external(erlang, "tally_app_test_ffi", "with_file_mode")
fn with_file_mode(mode: option.Option(Int), body: fn() -> a) -> a

@external(erlang, "tally_app_test_ffi", "with_small_disk")
fn with_small_disk(kilobytes: Int, body: fn(String) -> a) -> Result(a, Nil)

@external(erlang, "tally_app_test_ffi", "symlink")
fn symlink(target: String, link: String) -> Nil

@external(erlang, "tally_app_test_ffi", "write_file")
fn write_file(path: String, bytes: BitArray) -> Nil

@external(erlang, "tally_app_test_ffi", "read_file")
fn read_file(path: String) -> Result(BitArray, Nil)
