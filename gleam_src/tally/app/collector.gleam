//// A collector: an actor per configured source (a file, or a directory
//// whose files are read in name order). Every `poll_ms` it reads what was
//// appended, in chunks cut at line ends (`tally/app/reading`), hands each
//// chunk raw to the engine (`aggregate.ingest`: the events stay in the
//// engine, one batch per shard by `shard_of`), writes every rejected line
//// to `rejects.jsonl` in its written form (`tally/app/reject`: file, line,
//// byte offset, reason, text), and sends each shard its batch with where
//// the chunk starts and the position it reaches. The shards apply a
//// chunk's batches concurrently while the collector reads and parses the
//// next chunk; it waits for them before sending more (one chunk in
//// flight).
////
//// Files are known by identity (`tally/app/source_pos`), not by path. A
//// file source keeps its file open: when the path names another file
//// (rotation by rename), the old one is read to its end first, then the
//// new one from its start. A file that shrank or whose first bytes changed
//// (copy-and-truncate, even when it regrew past the old offset) is read
//// again from its start as a new generation. The collector has no offsets
//// file of its own: the shards' snapshots hold the positions; a restarted
//// collector resumes from the lowest one and cuts its chunks at the others,
//// so each shard skips by position what it already has.
////
//// A file that cannot be read or parsed is reported (logger error) and
//// retried with backoff (`poll_ms` doubling to a minute); the collector and
//// the source's other files carry on; so is a file whose chunk a shard
//// refused (it resumes from what the shards hold). A shard that is down
//// stops the collector: it restarts after the shard, from the shards'
//// positions.

import tally/aggregate
import tally/app/files
import tally/app/log
import tally/app/reading
import tally/app/reject
import tally/app/shard
import tally/app/source_pos
import tally/backend
import tally/event
import tally/option
import tally/otp/actor
import tally/otp/process
import tally/otp/supervision
import tally/pure/bytes
import tally/pure/map

/// A source and how to read it: its `index` among the sources (its
/// collector's registered name), its `name`, format and path (a file or a
/// directory), the engine, the parser's options, the number of shards,
/// the data directory (for `rejects.jsonl`), how often to look for more
/// and the most bytes read at once.
pub type Config {
  Config(
    index: Int,
    name: String,
    format: event.Format,
    path: String,
    backend: backend.Backend,
    options: event.ParserOptions,
    shards: Int,
    data_dir: String,
    poll_ms: Int,
    chunk_bytes: Int,
  )
}

/// What a collector read since it started: records (lines, or RGW bucket
/// entries), events, rejected and skipped records, files that failed, and
/// whether nothing was at the source's path at the last look (a typo in
/// `path` reads nothing: it is said, not billed as an empty source).
pub type Stats {
  Stats(
    records: Int,
    events: Int,
    rejected: Int,
    skipped: Int,
    failures: Int,
    missing: Bool,
  )
}

/// The messages of a collector (send them with the functions below).
pub opaque type Message {
  Poll
  Sync(to_end: Bool, reply: process.Subject(Nil))
  GetStats(reply: process.Subject(Stats))
}

type File {
  File(
    id: source_pos.FileId,
    path: String,
    io: option.Option(files.IoDevice),
    pos: source_pos.Position,
    /// Offsets where some shard stopped, above the position.
    cuts: List(Int),
    size: Int,
    last_size: Int,
    /// An over-long line was seen up to here.
    scanned: Int,
    header: option.Option(BitArray),
  )
}

// How a file is read: in a poll (what is complete), to its end (a period is
// being closed), or to its end for the last time (rotated away).
type Mode {
  Polling
  ToEnd
  Gone
}

type State {
  State(
    config: Config,
    self: process.Subject(Message),
    dir: Bool,
    files: map.Map(source_pos.FileId, File),
    /// The shards' records of files not open yet, by identity.
    known: map.Map(source_pos.FileId, List(option.Option(source_pos.Position))),
    /// Files that failed: when to retry, and the last delay.
    failing: map.Map(String, #(Int, Int)),
    /// The chunk the shards are applying: where their answers come.
    pending: option.Option(process.Subject(Result(Nil, shard.ShardError))),
    stats: Stats,
  )
}

/// Starts a collector for `config`, linked to the caller (a supervisor).
/// The shards must be running: it asks them where each file stands.
pub fn start(config: Config) -> actor.StartResult(Nil) {
  let builder =
    actor.new_with_initialiser(60_000, fn(self) {
      let state =
        State(
          config: config,
          self: self,
          dir: files.is_dir(config.path),
          files: map.new(),
          known: map.new(),
          failing: map.new(),
          pending: option.None,
          stats: Stats(0, 0, 0, 0, 0, False),
        )
      // A shard that goes down stops the collector (see `await`).
      each_shard(config.shards, fn(i) {
        case process.named(shard.name(i)) {
          Ok(pid) -> {
            let _ = process.monitor(pid)
            Nil
          }
          Error(Nil) -> Nil
        }
      })
      process.send(self, Poll)
      Ok(actor.initialised(State(..state, known: shard_records(state))))
    })
    |> actor.named(name(config.index))
    |> actor.on_message(handle)
  actor.start(builder)
}

/// The collector of `config` as a supervisor's worker.
pub fn supervised(config: Config) -> supervision.ChildSpecification(Nil) {
  supervision.worker(fn() { start(config) })
}

/// The registered name of the collector of source `index`.
pub fn name(index: Int) -> process.Name(Message) {
  fixed_name("tally_collector_" <> bytes.int_to_text(index))
}

/// Has the collector of source `index` read everything complete now;
/// returns when it is all handed to the shards. No timeout: the reading
/// grows with the input. Exits when the collector is not running or stops
/// meanwhile (it restarts; ask again).
pub fn sync(index: Int) -> Nil {
  process.call_forever(process.named_subject(name(index)), fn(reply) {
    Sync(False, reply)
  })
}

/// Has the collector of source `index` read every file to its end, a last
/// line without a newline included (the files are complete: a period is
/// being closed).
pub fn read_to_end(index: Int) -> Nil {
  process.call_forever(process.named_subject(name(index)), fn(reply) {
    Sync(True, reply)
  })
}

/// What the collector of source `index` read since it started.
pub fn stats(index: Int) -> Stats {
  process.call(process.named_subject(name(index)), 60_000, GetStats)
}

fn handle(state: State, message: Message) -> actor.Next(State, Message) {
  case message {
    Poll -> {
      let _ = process.send_after(state.self, state.config.poll_ms, Poll)
      actor.continue(await(poll(state, False)))
    }
    Sync(to_end, reply) -> {
      // Twice: an RGW document is taken once its size was seen unchanged.
      let state = await(poll(poll(state, False), to_end))
      process.send(reply, Nil)
      actor.continue(state)
    }
    GetStats(reply) -> {
      process.send(reply, state.stats)
      actor.continue(state)
    }
  }
}

// Each shard's record of every file of this source (None where a shard has none).
fn shard_records(
  state: State,
) -> map.Map(source_pos.FileId, List(option.Option(source_pos.Position))) {
  let name = state.config.name
  let all =
    map_shards(state.config.shards, fn(i) {
      map.put_all(
        filter_map(shard.positions(i), fn(entry) {
          let #(source_pos.SourceFile(source, id), pos) = entry
          case source == name {
            True -> Ok(#(id, pos))
            False -> Error(Nil)
          }
        }),
        map.new(),
      )
    })
  let ids = unique(flat_map(all, map.keys))
  map.put_all(
    map_list(ids, fn(id) {
      #(
        id,
        map_list(all, fn(positions) {
          case map.get(positions, id) {
            Ok(p) -> option.Some(p)
            Error(Nil) -> option.None
          }
        }),
      )
    }),
    map.new(),
  )
}

// Finding the files -----------------------------------------------------------

// The files at the source's paths now, by identity, in reading order.
fn present(state: State) -> List(#(String, source_pos.FileId)) {
  case state.dir {
    True ->
      case files.list_dir(state.config.path) {
        Ok(names) ->
          flat_map(names, fn(n) { stat(files.join(state.config.path, n)) })
        Error(_) -> []
      }
    False -> stat(state.config.path)
  }
}

fn stat(path: String) -> List(#(String, source_pos.FileId)) {
  case files.stat(path) {
    Ok(files.FileInfo(True, device, inode, _)) -> [
      #(path, source_pos.FileId(device, inode)),
    ]
    _ -> []
  }
}

// Rotated files of a file source that a shard has not seen finished:
// siblings named after it (`in.jsonl.1`, `in.jsonl-20261001`).
fn rotated(
  present: List(#(String, source_pos.FileId)),
  state: State,
) -> List(#(String, source_pos.FileId)) {
  case state.dir {
    True -> []
    False -> {
      let unfinished =
        filter_map(map.sorted_pairs(state.known), fn(entry) {
          let #(id, records) = entry
          case
            !has_id(present, id)
            && any(records, fn(r) {
              case r {
                option.Some(p) -> !p.done
                option.None -> True
              }
            })
          {
            True -> Ok(id)
            False -> Error(Nil)
          }
        })
      case unfinished {
        [] -> []
        _ -> {
          let dir = files.dirname(state.config.path)
          let names = case files.list_dir(dir) {
            Ok(names) -> names
            Error(_) -> []
          }
          reading.rotated_names(files.basename(state.config.path), names)
          |> flat_map(fn(n) { stat(files.join(dir, n)) })
          |> filter(fn(s) { member(unfinished, s.1) })
        }
      }
    }
  }
}

// Reading ---------------------------------------------------------------------

fn poll(state: State, to_end: Bool) -> State {
  let present = present(state)
  let state =
    note_missing(state, present == [] && !files.exists(state.config.path))
  // Open files no longer at any path of the source were rotated away:
  // complete, read to their end before anything newer.
  let gone = filter(map.keys(state.files), fn(id) { !has_id(present, id) })
  let state = fold(gone, state, finish_gone)
  let mode = case to_end {
    True -> ToEnd
    False -> Polling
  }
  let to_read =
    append(
      map_list(rotated(present, state), fn(p) { #(p.0, p.1, Gone) }),
      map_list(present, fn(p) { #(p.0, p.1, mode) }),
    )
  fold(to_read, state, fn(state, t) { guarded(t.0, t.1, t.2, state) })
}

// The source's path is there or not: said once when that changes.
fn note_missing(state: State, missing: Bool) -> State {
  case missing == state.stats.missing {
    True -> state
    False -> {
      let fields = [
        #("source", state.config.name),
        #("path", state.config.path),
      ]
      case missing {
        True ->
          log.report(
            log.Warning,
            "nothing at the source's path: nothing read from it until it appears",
            fields,
          )
        False ->
          log.report(log.Notice, "the source's path is there now", fields)
      }
      State(..state, stats: Stats(..state.stats, missing: missing))
    }
  }
}

fn finish_gone(state: State, id: source_pos.FileId) -> State {
  let state = case map.get(state.files, id) {
    Ok(File(io: option.Some(_), path: path, ..)) ->
      guarded(path, id, Gone, state)
    // A directory's file, removed: nothing left to read.
    _ -> state
  }
  case map.get(state.files, id) {
    Ok(f) -> close(f.io)
    Error(Nil) -> Nil
  }
  State(..state, files: map.delete(state.files, id))
}

// Reads one file; an error is reported and the file retried later, with
// backoff.
fn guarded(
  path: String,
  id: source_pos.FileId,
  mode: Mode,
  state: State,
) -> State {
  let now = monotonic_ms()
  let previous = map.get(state.failing, path)
  case previous, mode {
    Ok(#(retry_at, _)), Polling if retry_at > now -> state
    _, _ ->
      case read_file(path, id, mode, state) {
        Ok(state) -> State(..state, failing: map.delete(state.failing, path))
        Error(#(at_failure, reason)) -> {
          let delay =
            reading.backoff(
              case previous {
                Ok(#(_, d)) -> Ok(d)
                Error(Nil) -> Error(Nil)
              },
              poll_ms: state.config.poll_ms,
            )
          log.report(log.ErrorLevel, "source file failed, retrying later", [
            #("source", state.config.name),
            #("file", path),
            #("reason", reason),
            #("retry_ms", bytes.int_to_text(delay)),
          ])
          // Chunks may have reached the shards: the file resumes from what
          // the shards hold once they applied them.
          let state = await(at_failure)
          let files_now = case map.get(state.files, id) {
            Ok(f) -> {
              close(f.io)
              map.delete(state.files, id)
            }
            Error(Nil) -> state.files
          }
          let known = case map.get(shard_records(state), id) {
            Ok(records) -> map.put(state.known, id, records)
            Error(Nil) -> state.known
          }
          let s = state.stats
          State(
            ..state,
            files: files_now,
            known: known,
            failing: map.put(state.failing, path, #(now + delay, delay)),
            stats: Stats(..s, failures: s.failures + 1),
          )
        }
      }
  }
}

type Failed =
  #(State, String)

fn read_file(
  path: String,
  id: source_pos.FileId,
  mode: Mode,
  state: State,
) -> Result(State, Failed) {
  let complete = mode != Polling
  use #(f, state) <- try(case map.get(state.files, id) {
    Ok(f) -> Ok(#(f, state))
    Error(Nil) ->
      case resume(path, id, state) {
        Ok(f) -> Ok(#(f, State(..state, known: map.delete(state.known, id))))
        Error(reason) -> Error(#(state, reason))
      }
  })
  case f.pos.done {
    // Finished before a restart.
    True -> Ok(State(..state, files: map.put(state.files, id, f)))
    False -> {
      use f <- try(with_state(open(f), state))
      use f <- try(with_state(check_rewritten(f, state), state))
      use #(f, state) <- try(read_more(f, complete, state))
      use #(f, state) <- try(case mode {
        Gone -> finished(f, state)
        _ -> Ok(#(f, state))
      })
      // A directory's files are reopened each poll: a large directory holds
      // no descriptors.
      let f = case state.dir {
        True -> {
          close(f.io)
          File(..f, io: option.None)
        }
        False -> f
      }
      Ok(
        State(
          ..state,
          files: map.put(state.files, id, File(..f, last_size: f.size)),
        ),
      )
    }
  }
}

// A file rotated away and read to its end: the shards record it as done,
// so a restart does not look for it again.
fn finished(f: File, state: State) -> Result(#(File, State), Failed) {
  let done = source_pos.Position(..f.pos, done: True)
  use state <- try(give_to_shards(
    f.id,
    f.pos.generation,
    f.pos.offset,
    done,
    option.None,
    state,
  ))
  Ok(#(File(..f, pos: done), state))
}

// A file seen for the first time since start: from the shards' records.
fn resume(
  path: String,
  id: source_pos.FileId,
  state: State,
) -> Result(File, String) {
  let f =
    File(
      id: id,
      path: path,
      io: option.None,
      pos: source_pos.start(0),
      cuts: [],
      size: 0,
      last_size: -1,
      scanned: 0,
      header: option.None,
    )
  case map.get(state.known, id) {
    Error(Nil) -> Ok(f)
    Ok(records) -> {
      use io <- try(open_io(path, id))
      let matches = fn(fp: source_pos.Fingerprint) {
        source_pos.fingerprint(pread_or_empty(io, 0, fp.length)) == fp
      }
      let #(pos, cuts) = source_pos.resume(records, matches)
      Ok(
        File(
          ..f,
          io: option.Some(io),
          pos: pos,
          cuts: cuts,
          scanned: pos.offset,
        ),
      )
    }
  }
}

fn open(f: File) -> Result(File, String) {
  case f.io {
    option.Some(_) -> Ok(f)
    option.None -> {
      use io <- try(open_io(f.path, f.id))
      Ok(File(..f, io: option.Some(io)))
    }
  }
}

// Opens `path` and checks it is still the file `id` (it may have been
// renamed since).
fn open_io(
  path: String,
  id: source_pos.FileId,
) -> Result(files.IoDevice, String) {
  use io <- try(files.open(path, [files.Read]))
  case files.stat_io(io) {
    Ok(files.FileInfo(_, device, inode, _)) ->
      case source_pos.FileId(device, inode) == id {
        True -> Ok(io)
        False -> {
          let _ = files.close(io)
          Error("the file was replaced while opening it")
        }
      }
    Error(reason) -> {
      let _ = files.close(io)
      Error(reason)
    }
  }
}

// The file's size now, and a new generation from its start when it shrank
// below what was read or its first bytes changed (copy-and-truncate).
fn check_rewritten(f: File, state: State) -> Result(File, String) {
  let io = device(f)
  use info <- try(files.stat_io(io))
  use first <- try(files.pread(io, 0, f.pos.fingerprint.length))
  case reading.rewritten(f.pos, size: info.size, first: first) {
    False -> Ok(File(..f, size: info.size))
    True -> {
      log.report(
        log.Warning,
        "source file was rewritten, reading it from the start",
        [
          #("source", state.config.name),
          #("file", f.path),
          #("offset", bytes.int_to_text(f.pos.offset)),
          #("size", bytes.int_to_text(info.size)),
        ],
      )
      Ok(
        File(
          ..f,
          size: info.size,
          pos: source_pos.start(f.pos.generation + 1),
          cuts: [],
          scanned: 0,
          header: option.None,
          last_size: -1,
        ),
      )
    }
  }
}

fn read_more(
  f: File,
  complete: Bool,
  state: State,
) -> Result(#(File, State), Failed) {
  let offset = f.pos.offset
  let io = device(f)
  case state.config.format {
    event.RgwUsage ->
      case
        offset < f.size
        && reading.document_settled(
          offset: offset,
          size: f.size,
          last_size: f.last_size,
          complete: complete,
        )
      {
        // Still growing, or read already.
        False -> Ok(#(f, state))
        True -> {
          use doc <- try(with_state(files.pread(io, 0, f.size), state))
          case complete || reading.document_closed(doc) {
            True -> hand_over(f, doc, f.size, state)
            // Not closed yet: still being written.
            False -> Ok(#(f, state))
          }
        }
      }
    _ ->
      case
        reading.next_read(
          offset: offset,
          size: f.size,
          cuts: f.cuts,
          chunk: state.config.chunk_bytes,
        )
      {
        Error(Nil) -> Ok(#(f, state))
        Ok(read) -> {
          use got <- try(with_state(files.pread(io, offset, read.length), state))
          case
            reading.unit(
              got,
              read,
              offset: offset,
              size: f.size,
              complete: complete,
            )
          {
            reading.Wait -> Ok(#(f, state))
            reading.HandOver(n) -> {
              use #(f, state) <- try(hand_over(
                f,
                bytes.slice(got, 0, n),
                offset + n,
                state,
              ))
              read_more(f, complete, state)
            }
            reading.LongLine -> long_line(f, complete, state)
          }
        }
      }
  }
}

// A line longer than a chunk: found whole (up to max_line) and handed over
// as one chunk, or, when longer, rejected whole once its end is known.
fn long_line(
  f: File,
  complete: Bool,
  state: State,
) -> Result(#(File, State), Failed) {
  let io = device(f)
  let offset = f.pos.offset
  use newline <- try(with_state(
    find_newline(io, max(offset, f.scanned), f.size, state.config.chunk_bytes),
    state,
  ))
  case
    reading.long_line(
      offset: offset,
      newline: newline,
      size: f.size,
      max_line: state.config.options.max_line,
      complete: complete,
    )
  {
    reading.WholeLine(end) -> {
      use line <- try(with_state(files.pread(io, offset, end - offset), state))
      use #(f, state) <- try(hand_over(f, line, end, state))
      read_more(f, complete, state)
    }
    reading.TooLong(length, end) -> {
      use #(f, state) <- try(too_long(f, length, end, state))
      read_more(f, complete, state)
    }
    // Its end is not written yet.
    reading.NotYet(scanned) -> Ok(#(File(..f, scanned: scanned), state))
  }
}

fn find_newline(
  io: files.IoDevice,
  from: Int,
  size: Int,
  chunk: Int,
) -> Result(Result(Int, Nil), String) {
  case from >= size {
    True -> Ok(Error(Nil))
    False -> {
      use got <- try(files.pread(io, from, min(chunk, size - from)))
      let n = bytes.size(got)
      let at = bytes.find_byte(got, 0, 10)
      case at < n, n {
        True, _ -> Ok(Ok(from + at))
        False, 0 -> Ok(Error(Nil))
        False, _ -> find_newline(io, from + n, size, chunk)
      }
    }
  }
}

// One over-long line of `length` bytes ending at `end`: one reject, no events.
fn too_long(
  f: File,
  length: Int,
  end: Int,
  state: State,
) -> Result(#(File, State), Failed) {
  use head <- try(with_state(
    files.pread(device(f), f.pos.offset, min(length, reading.kept_text)),
    state,
  ))
  let rejected =
    reading.too_long_reject(
      format: state.config.format,
      length: length,
      max_line: state.config.options.max_line,
      head: head,
    )
  deliver(
    f,
    option.None,
    [rejected],
    event.ParseStats(1, 0, 1, 0, 0, end - f.pos.offset),
    0,
    end,
    1,
    state,
  )
}

// Storage CSV chunks after the first are parsed with the header in front.
fn with_header(f: File, state: State) -> Result(File, String) {
  case f.header, state.config.format, f.pos.offset > 0 {
    option.None, event.StorageCsv, True -> {
      use first <- try(files.pread(device(f), 0, state.config.chunk_bytes))
      Ok(
        File(..f, header: case reading.header_line(first) {
          Ok(h) -> option.Some(h)
          Error(Nil) -> option.None
        }),
      )
    }
    _, _, _ -> Ok(f)
  }
}

// Parses a chunk of the file that ends at `end` and hands it over.
fn hand_over(
  f: File,
  chunk: BitArray,
  end: Int,
  state: State,
) -> Result(#(File, State), Failed) {
  use f <- try(with_state(with_header(f, state), state))
  let config = state.config
  let #(input, shift) = case config.format, f.header, f.pos.offset > 0 {
    event.StorageCsv, option.Some(h), True -> #(bytes.append(h, chunk), 1)
    _, _, _ -> #(chunk, 0)
  }
  case
    aggregate.ingest(
      on: config.backend,
      format: config.format,
      options: config.options,
      shards: config.shards,
      chunk: input,
    )
  {
    Error(e) -> Error(#(state, "the engine refused a chunk: " <> inspect(e)))
    Ok(event.Ingested(batches, rejects, stats)) ->
      deliver(
        f,
        option.Some(batches),
        rejects,
        stats,
        shift,
        end,
        reading.lines_in(config.format, chunk),
        state,
      )
  }
}

// Keeps the rejects of a parsed chunk and sends the shards their batches
// with the position the file reaches at `end` (`lines` further on).
fn deliver(
  f: File,
  batches: option.Option(List(aggregate.Batch)),
  rejects: List(event.Reject),
  stats: event.ParseStats,
  shift: Int,
  end: Int,
  lines: Int,
  state: State,
) -> Result(#(File, State), Failed) {
  let pos = f.pos
  let header_bytes = case shift, f.header {
    0, _ -> 0
    _, option.Some(h) -> bytes.size(h)
    _, option.None -> 0
  }
  // A reject that cannot be written fails the file (retried): none is dropped.
  use Nil <- try(with_state(
    keep_rejects(
      f.path,
      rejects,
      pos.line - shift,
      pos.offset - header_bytes,
      state,
    ),
    state,
  ))
  let io = device(f)
  let to =
    reading.advance(pos, end: end, lines: lines, head: fn(n) {
      pread_or_empty(io, 0, n)
    })
  use state <- try(give_to_shards(
    f.id,
    pos.generation,
    pos.offset,
    to,
    batches,
    state,
  ))
  let s = state.stats
  Ok(#(
    File(..f, pos: to, scanned: end),
    State(
      ..state,
      stats: Stats(
        ..s,
        records: s.records + stats.records - shift,
        events: s.events + stats.events,
        rejected: s.rejected + stats.rejected,
        skipped: s.skipped + stats.skipped - shift,
      ),
    ),
  ))
}

fn keep_rejects(
  path: String,
  rejects: List(event.Reject),
  base_line: Int,
  base_offset: Int,
  state: State,
) -> Result(Nil, String) {
  case rejects {
    [] -> Ok(Nil)
    _ -> {
      // Lines and offsets made relative to the file, then the one written form.
      let name = state.config.name
      let lines =
        fold(rejects, <<>>, fn(out, r) {
          let r =
            event.Reject(
              ..r,
              line: base_line + r.line,
              offset: base_offset + r.offset,
            )
          log.report(log.Info, "rejected line", [
            #("source", name),
            #("file", path),
            #("line", bytes.int_to_text(r.line)),
            #("reason", reject.message(r.reason)),
          ])
          let line = reject.json(source: name, file: path, reject: r)
          bytes.append(out, <<line:utf8, "\n":utf8>>)
        })
      files.append_lines_durably(
        files.join(state.config.data_dir, "rejects.jsonl"),
        lines,
      )
    }
  }
}

// Sends every shard its batch of the chunk (None: the chunk has no events,
// only a position), once the shards have applied the previous chunk. Every
// shard learns the position, also those with no events in the chunk.
fn give_to_shards(
  id: source_pos.FileId,
  generation: Int,
  from: Int,
  to: source_pos.Position,
  batches: option.Option(List(aggregate.Batch)),
  state: State,
) -> Result(State, Failed) {
  use state <- try(all_applied(state))
  let reply = process.new_subject()
  let file = source_pos.SourceFile(source: state.config.name, file: id)
  let each = case batches {
    option.Some(bs) -> map_list(bs, option.Some)
    option.None -> map_shards(state.config.shards, fn(_) { option.None })
  }
  let _ =
    fold(each, 0, fn(i, batch) {
      shard.send_batch(
        shard.subject(i),
        file: file,
        generation: generation,
        from: from,
        to: to,
        batch: batch,
        reply: reply,
      )
      i + 1
    })
  Ok(State(..state, pending: option.Some(reply)))
}

type Answer {
  Answered(Result(Nil, shard.ShardError))
  ShardWentDown(process.Down)
}

// Waits until the shards have applied the chunk in flight. A shard that
// refused it fails the file being read (retried with backoff, from what the
// shards hold); a shard that is down stops the collector (it restarts from
// the shards' positions, after the shard).
fn all_applied(state: State) -> Result(State, Failed) {
  case state.pending {
    option.None -> Ok(state)
    option.Some(reply) -> {
      let selector =
        process.new_selector()
        |> process.select_map(reply, Answered)
        |> process.select_monitors(ShardWentDown)
      let state = State(..state, pending: option.None)
      // Every shard's answer is taken, the first refusal kept.
      let refused =
        fold(map_shards(state.config.shards, fn(i) { i }), Ok(Nil), fn(acc, _) {
          case process.selector_receive_forever(selector) {
            Answered(Ok(Nil)) -> acc
            Answered(Error(e)) ->
              case acc {
                Ok(Nil) -> Error(e)
                _ -> acc
              }
            ShardWentDown(_) -> stop_collector("a shard went down")
          }
        })
      case refused {
        Ok(Nil) -> Ok(state)
        Error(e) ->
          Error(#(state, "a shard refused a chunk: " <> shard.describe(e)))
      }
    }
  }
}

// `all_applied` where no file is being read: a refusal stops the collector.
fn await(state: State) -> State {
  case all_applied(state) {
    Ok(state) -> state
    Error(#(_, reason)) -> stop_collector(reason)
  }
}

// Helpers ---------------------------------------------------------------------

fn device(f: File) -> files.IoDevice {
  case f.io {
    option.Some(io) -> io
    option.None -> stop_collector("reading a file that is not open")
  }
}

fn pread_or_empty(io: files.IoDevice, offset: Int, length: Int) -> BitArray {
  case files.pread(io, offset, length) {
    Ok(got) -> got
    Error(_) -> <<>>
  }
}

fn close(io: option.Option(files.IoDevice)) -> Nil {
  case io {
    option.Some(io) -> {
      let _ = files.close(io)
      Nil
    }
    option.None -> Nil
  }
}

fn try(result: Result(a, e), next: fn(a) -> Result(b, e)) -> Result(b, e) {
  case result {
    Ok(x) -> next(x)
    Error(e) -> Error(e)
  }
}

fn with_state(result: Result(a, String), state: State) -> Result(a, Failed) {
  case result {
    Ok(x) -> Ok(x)
    Error(reason) -> Error(#(state, reason))
  }
}

fn has_id(
  present: List(#(String, source_pos.FileId)),
  id: source_pos.FileId,
) -> Bool {
  any(present, fn(p) { p.1 == id })
}

fn member(list: List(a), x: a) -> Bool {
  any(list, fn(y) { y == x })
}

fn any(list: List(a), f: fn(a) -> Bool) -> Bool {
  case list {
    [] -> False
    [x, ..rest] ->
      case f(x) {
        True -> True
        False -> any(rest, f)
      }
  }
}

fn filter(list: List(a), keep: fn(a) -> Bool) -> List(a) {
  filter_map(list, fn(x) {
    case keep(x) {
      True -> Ok(x)
      False -> Error(Nil)
    }
  })
}

fn filter_map(list: List(a), f: fn(a) -> Result(b, Nil)) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] ->
      case f(x) {
        Ok(y) -> [y, ..filter_map(rest, f)]
        Error(Nil) -> filter_map(rest, f)
      }
  }
}

fn map_list(list: List(a), f: fn(a) -> b) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] -> {
      let y = f(x)
      [y, ..map_list(rest, f)]
    }
  }
}

fn flat_map(list: List(a), f: fn(a) -> List(b)) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] -> append(f(x), flat_map(rest, f))
  }
}

fn fold(list: List(a), acc: b, f: fn(b, a) -> b) -> b {
  case list {
    [] -> acc
    [x, ..rest] -> fold(rest, f(acc, x), f)
  }
}

fn map_shards(n: Int, f: fn(Int) -> a) -> List(a) {
  map_from(0, n, f)
}

fn map_from(i: Int, n: Int, f: fn(Int) -> a) -> List(a) {
  case i < n {
    True -> {
      let x = f(i)
      [x, ..map_from(i + 1, n, f)]
    }
    False -> []
  }
}

fn each_shard(n: Int, f: fn(Int) -> Nil) -> Nil {
  let _ = map_shards(n, f)
  Nil
}

fn min(a: Int, b: Int) -> Int {
  case a < b {
    True -> a
    False -> b
  }
}

fn max(a: Int, b: Int) -> Int {
  case a > b {
    True -> a
    False -> b
  }
}

@external(erlang, "lists", "append")
fn append(a: List(a), b: List(a)) -> List(a)

@external(erlang, "lists", "usort")
fn unique(list: List(a)) -> List(a)

@external(erlang, "tally_ingest_ffi", "fixed_name")
fn fixed_name(name: String) -> process.Name(message)

@external(erlang, "tally_ingest_ffi", "monotonic_ms")
fn monotonic_ms() -> Int

@external(erlang, "tally_ingest_ffi", "inspect")
fn inspect(term: a) -> String

@external(erlang, "erlang", "error")
fn stop_collector(reason: String) -> a
