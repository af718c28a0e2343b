//// What a collector reads next, decided without files: chunks cut at line
//// ends and at the shards' cuts, half-written lines waiting, long lines
//// whole or rejected whole, RGW documents once settled.

import tally/app/reading
import tally/app/source_pos
import tally/event
import tally/expect

pub fn chunks_end_at_a_cut_or_the_chunk_size_test() {
  expect.equal(
    reading.next_read(offset: 0, size: 100, cuts: [], chunk: 64),
    Ok(reading.Read(64, False)),
  )
  expect.equal(
    reading.next_read(offset: 0, size: 100, cuts: [30], chunk: 64),
    Ok(reading.Read(30, True)),
  )
  // A cut further than a chunk: the chunk does not reach it.
  expect.equal(
    reading.next_read(offset: 0, size: 100, cuts: [90], chunk: 64),
    Ok(reading.Read(64, False)),
  )
  expect.equal(
    reading.next_read(offset: 100, size: 100, cuts: [], chunk: 64),
    Error(Nil),
  )
}

pub fn a_chunk_is_whole_lines_test() {
  let read = reading.Read(7, False)
  expect.equal(
    reading.unit(
      <<"a\nbc\nde":utf8>>,
      read,
      offset: 0,
      size: 100,
      complete: False,
    ),
    reading.HandOver(5),
  )
  // Up to a cut: whole, newline or not.
  expect.equal(
    reading.unit(
      <<"a\nbc\nde":utf8>>,
      reading.Read(7, True),
      offset: 0,
      size: 100,
      complete: False,
    ),
    reading.HandOver(7),
  )
  // A last line without newline waits while the file may grow...
  expect.equal(
    reading.unit(
      <<"de":utf8>>,
      reading.Read(2, False),
      offset: 5,
      size: 7,
      complete: False,
    ),
    reading.Wait,
  )
  // ... and is taken when the file is complete.
  expect.equal(
    reading.unit(
      <<"de":utf8>>,
      reading.Read(2, False),
      offset: 5,
      size: 7,
      complete: True,
    ),
    reading.HandOver(2),
  )
  // No newline in a whole chunk with more after it: a long line.
  expect.equal(
    reading.unit(
      <<"xxxx":utf8>>,
      reading.Read(4, False),
      offset: 0,
      size: 9,
      complete: True,
    ),
    reading.LongLine,
  )
  expect.equal(reading.whole_lines(<<"a\nbc\nd":utf8>>), 5)
  expect.equal(reading.whole_lines(<<"abc":utf8>>), 0)
  expect.equal(reading.whole_lines(<<>>), 0)
}

pub fn a_long_line_is_whole_or_rejected_whole_test() {
  let long = fn(newline, size, complete) {
    reading.long_line(
      offset: 100,
      newline: newline,
      size: size,
      max_line: 50,
      complete: complete,
    )
  }
  expect.equal(long(Ok(140), 500, False), reading.WholeLine(141))
  expect.equal(long(Ok(150), 500, False), reading.WholeLine(151))
  expect.equal(long(Ok(151), 500, False), reading.TooLong(51, 152))
  expect.equal(long(Error(Nil), 400, False), reading.NotYet(400))
  expect.equal(long(Error(Nil), 140, True), reading.WholeLine(140))
  expect.equal(long(Error(Nil), 400, True), reading.TooLong(300, 400))
  expect.equal(
    reading.too_long_reject(
      format: event.JsonLines,
      length: 300,
      max_line: 50,
      head: <<"x":utf8>>,
    ),
    event.Reject(event.JsonLines, 1, 0, event.LineTooLong(300, 50), <<"x":utf8>>),
  )
}

pub fn an_rgw_document_is_read_once_settled_and_closed_test() {
  expect.equal(
    reading.document_settled(
      offset: 0,
      size: 10,
      last_size: -1,
      complete: False,
    ),
    False,
  )
  expect.equal(
    reading.document_settled(
      offset: 0,
      size: 10,
      last_size: 10,
      complete: False,
    ),
    True,
  )
  expect.equal(
    reading.document_settled(offset: 0, size: 10, last_size: 4, complete: True),
    True,
  )
  expect.equal(
    reading.document_settled(
      offset: 10,
      size: 10,
      last_size: 10,
      complete: True,
    ),
    False,
  )
  expect.equal(reading.document_closed(<<"{\"entries\": []}\n  ":utf8>>), True)
  expect.equal(reading.document_closed(<<"{\"entries\": [":utf8>>), False)
  expect.equal(reading.document_closed(<<"\n \n":utf8>>), False)
  expect.equal(reading.document_closed(<<>>), False)
  // Not UTF-8: read as bytes all the same.
  expect.equal(reading.document_closed(<<0, 255, 1, "}":utf8>>), True)
  expect.equal(reading.document_closed(<<0, 255, 1>>), False)
}

pub fn lines_and_headers_are_counted_from_the_bytes_test() {
  expect.equal(reading.lines_in(event.JsonLines, <<"a\nb\n":utf8>>), 2)
  expect.equal(reading.lines_in(event.JsonLines, <<"a\nb":utf8>>), 2)
  expect.equal(reading.lines_in(event.JsonLines, <<>>), 0)
  expect.equal(reading.lines_in(event.RgwUsage, <<"{\n}\n":utf8>>), 1)
  expect.equal(
    reading.header_line(<<"timestamp,customer\n2026,a\n":utf8>>),
    Ok(<<"timestamp,customer\n":utf8>>),
  )
  expect.equal(reading.header_line(<<"timestamp":utf8>>), Error(Nil))
}

pub fn a_position_advances_and_its_fingerprint_grows_test() {
  let file = <<"0123456789":utf8>>
  let head = fn(n) { slice(file, 0, n) }
  let p = reading.advance(source_pos.start(0), end: 4, lines: 2, head: head)
  expect.equal(p.offset, 4)
  expect.equal(p.line, 2)
  expect.equal(p.fingerprint, source_pos.fingerprint(<<"0123":utf8>>))
  let q = reading.advance(p, end: 10, lines: 1, head: head)
  expect.equal(#(q.offset, q.line), #(10, 3))
  expect.equal(q.fingerprint, source_pos.fingerprint(file))
  // Rewritten: shrank below the offset, or other first bytes.
  expect.equal(reading.rewritten(q, size: 10, first: file), False)
  expect.equal(reading.rewritten(q, size: 12, first: file), False)
  expect.equal(reading.rewritten(q, size: 9, first: file), True)
  expect.equal(
    reading.rewritten(q, size: 30, first: <<"x123456789":utf8>>),
    True,
  )
}

pub fn rotated_files_are_named_after_the_source_test() {
  expect.equal(
    reading.rotated_names("in.jsonl", [
      "in.jsonl", "in.jsonl-20261001", "in.jsonl.1", "other", "in.json",
    ]),
    ["in.jsonl-20261001", "in.jsonl.1"],
  )
}

pub fn a_failing_file_is_retried_later_and_later_test() {
  expect.equal(reading.backoff(Error(Nil), poll_ms: 1000), 1000)
  expect.equal(reading.backoff(Ok(1000), poll_ms: 1000), 2000)
  expect.equal(reading.backoff(Ok(40_000), poll_ms: 1000), 60_000)
  expect.equal(reading.backoff(Ok(60_000), poll_ms: 1000), 60_000)
}

@external(erlang, "binary", "part")
fn slice(bytes: BitArray, at: Int, length: Int) -> BitArray
