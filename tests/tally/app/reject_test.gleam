//// The reject's written form gives the bytes the Rust writer's tests
//// expect (native/core/src/written.rs), and every reason kind has its
//// named fields, each of one JSON type, and its text.

import tally/app/reject
import tally/event
import tally/expect
import tally/pure/bytes
import tally/pure/json_tree

pub fn a_reject_is_one_object_with_its_reason_named_and_as_text_test() {
  expect.equal(
    reject.json(
      source: "s3",
      file: "in/s3.log",
      reject: event.Reject(
        format: event.S3AccessLog,
        line: 3,
        offset: 120,
        reason: event.WrongFieldCount(expected: 18, found: 2),
        text: <<"a \"b\"":utf8>>,
      ),
    ),
    "{\"file\":\"in/s3.log\",\"format\":\"s3_access_log\",\"line\":3,"
      <> "\"message\":\"expected 18 fields, found 2\",\"offset\":120,"
      <> "\"reason\":{\"expected_fields\":18,\"found_fields\":2,\"kind\":\"wrong_field_count\"},"
      <> "\"source\":\"s3\",\"text\":\"a \\\"b\\\"\",\"text_base64\":false}",
  )
}

pub fn a_line_that_is_not_utf8_is_kept_in_base64_with_its_flag_test() {
  expect.equal(
    reject.json(
      source: "edge",
      file: "e.jsonl",
      reject: event.Reject(
        format: event.JsonLines,
        line: 1,
        offset: 0,
        reason: event.InvalidUtf8(column: 9),
        text: <<"{\"id\":\"":utf8, 255, "\"}":utf8>>,
      ),
    ),
    "{\"file\":\"e.jsonl\",\"format\":\"json_lines\",\"line\":1,"
      <> "\"message\":\"invalid UTF-8 at column 9\",\"offset\":0,"
      <> "\"reason\":{\"column\":9,\"kind\":\"invalid_utf8\"},\"source\":\"edge\","
      <> "\"text\":\"eyJpZCI6Iv8ifQ==\",\"text_base64\":true}",
  )
}

pub fn every_kind_has_named_fields_of_one_type_and_a_text_test() {
  let reasons = [
    #(event.BadField("time", 5, "["), 3),
    #(event.DuplicateKey("subject"), 1),
    #(event.Disagree("time", "epoch"), 2),
    #(event.InvalidJson(7, "a value"), 2),
    #(event.Malformed(3, "','"), 2),
    #(event.InvalidUtf8(2), 1),
    #(event.MissingField("id"), 1),
    #(event.WrongType("id", "a string"), 2),
    #(event.EmptyField("id"), 1),
    #(event.InvalidTime("time"), 1),
    #(event.InvalidNumber("bytes"), 1),
    #(event.NumberTooLarge("bytes"), 1),
    #(event.LineTooLong(2_000_000, 1_048_576), 2),
    #(event.WrongFieldCount(4, 3), 2),
    #(event.BadHeader, 0),
  ]
  each(reasons, fn(case_) {
    let #(reason, fields) = case_
    let line =
      reject.json(
        source: "s",
        file: "f",
        reject: event.Reject(event.JsonLines, 1, 0, reason, <<"x":utf8>>),
      )
    let assert Ok(json_tree.JObject(members)) = json_tree.parse(line)
    let assert Ok(json_tree.JObject(reason_members)) = find(members, "reason")
    let assert Ok(json_tree.JString(kind)) = find(reason_members, "kind")
    expect.be_true(kind != "", "a kind")
    let assert Ok(json_tree.JString(text)) = find(members, "message")
    expect.equal(text, reject.message(reason))
    expect.be_true(text != "", "a message")
    expect.equal(length(reason_members), fields + 1)
    each(reason_members, fn(member) {
      let #(name, value) = member
      case name, value {
        "field", json_tree.JString(_) -> Nil
        "expected", json_tree.JString(_) -> Nil
        "other", json_tree.JString(_) -> Nil
        "kind", json_tree.JString(_) -> Nil
        "column", json_tree.JNumber(_) -> Nil
        "length", json_tree.JNumber(_) -> Nil
        "limit", json_tree.JNumber(_) -> Nil
        "expected_fields", json_tree.JNumber(_) -> Nil
        "found_fields", json_tree.JNumber(_) -> Nil
        _, _ -> expect.equal(#(kind, name, "of its type"), #(kind, name, "?"))
      }
    })
  })
  expect.equal(
    reject.message(event.LineTooLong(2_000_000, 1_048_576)),
    "line of 2000000 bytes is over the limit of 1048576",
  )
}

pub fn strings_are_escaped_like_the_engine_writer_test() {
  // The Rust writer's own case (written.rs).
  expect.equal(
    json_tree.to_sorted_string(
      json_tree.JString(bytes.to_text(<<"a\"b\\c\nd":utf8, 1, "é":utf8, 127>>)),
    ),
    bytes.to_text(<<"\"a\\\"b\\\\c\\nd\\u0001é":utf8, 127, "\"":utf8>>),
  )
  expect.equal(
    json_tree.to_sorted_string(
      json_tree.JObject([
        #("b", json_tree.JArray([json_tree.int(-1), json_tree.JNull])),
        #("a", json_tree.JArray([])),
        #("c", json_tree.JObject([])),
      ]),
    ),
    "{\"a\":[],\"b\":[-1,null],\"c\":{}}",
  )
}

fn find(members: List(#(String, a)), key: String) -> Result(a, Nil) {
  case members {
    [] -> Error(Nil)
    [#(k, v), ..rest] ->
      case k == key {
        True -> Ok(v)
        False -> find(rest, key)
      }
  }
}

fn each(list: List(a), f: fn(a) -> Nil) -> Nil {
  case list {
    [] -> Nil
    [x, ..rest] -> {
      f(x)
      each(rest, f)
    }
  }
}

@external(erlang, "erlang", "length")
fn length(list: List(a)) -> Int
