//// A whole JSON document as a tree, read with the validating scanner of
//// `tally/pure/json` (for the plans file; events are scanned, not built).

import tally/pure/bytes
import tally/pure/json
import tally/pure/map
import tally/pure/written

pub type Json {
  JString(String)
  /// A number as written (the grammar already checked).
  JNumber(text: String)
  JBool(Bool)
  JNull
  JArray(List(Json))
  /// Members in document order, repeated keys kept.
  JObject(List(#(String, Json)))
}

/// The document, or where and why it is not JSON.
pub fn parse(text: String) -> Result(Json, String) {
  let b = <<text:utf8>>
  case value(b, 0, 0) {
    Error(e) -> Error(describe(e))
    Ok(#(tree, after)) ->
      case json.peek(b, after) {
        #(-1, _) -> Ok(tree)
        #(_, p) -> Error("trailing characters at byte " <> bytes.int_to_text(p))
      }
  }
}

fn describe(e: json.ScanError) -> String {
  case e {
    json.Syntax(at, expected) ->
      "expected " <> expected <> " at byte " <> bytes.int_to_text(at)
    json.Utf8(at) -> "invalid UTF-8 at byte " <> bytes.int_to_text(at)
  }
}

fn value(
  b: BitArray,
  pos: Int,
  depth: Int,
) -> Result(#(Json, Int), json.ScanError) {
  let #(c, p) = json.peek(b, pos)
  case depth > json.max_depth, c {
    True, _ -> Error(json.Syntax(p, "less nesting"))
    _, 34 ->
      case json.string(b, p) {
        Ok(#(s, after)) -> Ok(#(JString(s), after))
        Error(e) -> Error(e)
      }
    _, 123 -> members(b, p + 1, True, depth, [])
    _, 91 -> elements(b, p + 1, True, depth, [])
    _, 116 -> literal(b, p, <<"true":utf8>>, JBool(True))
    _, 102 -> literal(b, p, <<"false":utf8>>, JBool(False))
    _, 110 -> literal(b, p, <<"null":utf8>>, JNull)
    _, _ ->
      case c == 45 || bytes.is_digit(c) {
        False -> Error(json.Syntax(p, "a value"))
        True ->
          case json.number(b, p) {
            Ok(#(_, after)) ->
              Ok(#(JNumber(bytes.slice_text(b, p, after - p)), after))
            Error(e) -> Error(e)
          }
      }
  }
}

fn members(
  b: BitArray,
  pos: Int,
  first: Bool,
  depth: Int,
  acc: List(#(String, Json)),
) -> Result(#(Json, Int), json.ScanError) {
  case json.next_key(b, pos, first) {
    Error(e) -> Error(e)
    Ok(json.EndOfObject(after)) -> Ok(#(JObject(bytes.reverse(acc)), after))
    Ok(json.Key(key, after)) ->
      case value(b, after, depth + 1) {
        Ok(#(v, next)) -> members(b, next, False, depth, [#(key, v), ..acc])
        Error(e) -> Error(e)
      }
  }
}

fn elements(
  b: BitArray,
  pos: Int,
  first: Bool,
  depth: Int,
  acc: List(Json),
) -> Result(#(Json, Int), json.ScanError) {
  case json.next_element(b, pos, first) {
    Error(e) -> Error(e)
    Ok(#(False, after)) -> Ok(#(JArray(bytes.reverse(acc)), after))
    Ok(#(True, at)) ->
      case value(b, at, depth + 1) {
        Ok(#(v, next)) -> elements(b, next, False, depth, [v, ..acc])
        Error(e) -> Error(e)
      }
  }
}

fn literal(
  b: BitArray,
  pos: Int,
  word: BitArray,
  v: Json,
) -> Result(#(Json, Int), json.ScanError) {
  case json.literal(b, pos, word) {
    Ok(after) -> Ok(#(v, after))
    Error(e) -> Error(e)
  }
}

type ReplaceOption {
  Global
}

@external(erlang, "binary", "replace")
fn replace(
  subject: String,
  pattern: String,
  with: String,
  options: List(ReplaceOption),
) -> String

/// The first key (in document order) given twice in one object, described
/// as the Rust engine's `first_repeated_key` describes it: the object's
/// place as a JSON Pointer (RFC 6901).
///
/// ```gleam
/// let assert Ok(tree) = parse("{\"a\":1,\"a\":2}")
/// first_repeated_key(tree)
/// // -> Ok("duplicate key \"a\" at the top level")
/// ```
pub fn first_repeated_key(tree: Json) -> Result(String, Nil) {
  repeated_in(tree, "")
}

fn repeated_in(tree: Json, pointer: String) -> Result(String, Nil) {
  case tree {
    JObject(members) -> repeated_member(members, pointer, map.new())
    JArray(items) -> repeated_item(items, pointer, 0)
    _ -> Error(Nil)
  }
}

fn repeated_member(
  members: List(#(String, Json)),
  pointer: String,
  seen: map.Map(String, Bool),
) -> Result(String, Nil) {
  case members {
    [] -> Error(Nil)
    [#(key, value), ..rest] ->
      case map.get(seen, key) {
        Ok(_) ->
          case pointer {
            "" -> Ok("duplicate key \"" <> key <> "\" at the top level")
            _ -> Ok("duplicate key \"" <> key <> "\" in " <> pointer)
          }
        Error(Nil) -> {
          let escaped =
            replace(replace(key, "~", "~0", [Global]), "/", "~1", [Global])
          case repeated_in(value, pointer <> "/" <> escaped) {
            Ok(found) -> Ok(found)
            Error(Nil) ->
              repeated_member(rest, pointer, map.put(seen, key, True))
          }
        }
      }
  }
}

fn repeated_item(
  items: List(Json),
  pointer: String,
  i: Int,
) -> Result(String, Nil) {
  case items {
    [] -> Error(Nil)
    [item, ..rest] ->
      case repeated_in(item, pointer <> "/" <> bytes.int_to_text(i)) {
        Ok(found) -> Ok(found)
        Error(Nil) -> repeated_item(rest, pointer, i + 1)
      }
  }
}

/// The tree written as compact JSON text (members in their order; strings
/// escaped as RFC 8259 requires; numbers as written).
///
/// ```gleam
/// to_string(JObject([#("a", JArray([JNumber("1"), JString("x\"y")]))]))
/// // -> "{\"a\":[1,\"x\\\"y\"]}"
/// ```
pub fn to_string(tree: Json) -> String {
  bytes.to_text(concat(bytes.reverse(write(tree, []))))
}

/// The value as JSON text with every object's members sorted by key (byte
/// order), the engine's written form (`native/core/src/written.rs`): what
/// the application writes itself (rejected lines, a shard's positions).
///
/// ```gleam
/// to_sorted_string(JObject([#("b", int(1)), #("a", JString("x\n"))]))
/// // -> "{\"a\":\"x\\n\",\"b\":1}"
/// ```
pub fn to_sorted_string(tree: Json) -> String {
  to_string(sorted(tree))
}

fn sorted(tree: Json) -> Json {
  case tree {
    JArray(items) -> JArray(sorted_items(items, []))
    JObject(members) -> JObject(bytes.sort(sorted_members(members, [])))
    _ -> tree
  }
}

fn sorted_items(items: List(Json), acc: List(Json)) -> List(Json) {
  case items {
    [] -> bytes.reverse(acc)
    [item, ..rest] -> sorted_items(rest, [sorted(item), ..acc])
  }
}

fn sorted_members(
  members: List(#(String, Json)),
  acc: List(#(String, Json)),
) -> List(#(String, Json)) {
  case members {
    [] -> acc
    [#(k, v), ..rest] -> sorted_members(rest, [#(k, sorted(v)), ..acc])
  }
}

/// An integer as a JSON number.
pub fn int(n: Int) -> Json {
  JNumber(bytes.int_to_text(n))
}

/// The member named `key` of an object (the first, when repeated).
pub fn member(tree: Json, key: String) -> Result(Json, Nil) {
  case tree {
    JObject(members) -> find_member(members, key)
    _ -> Error(Nil)
  }
}

fn find_member(
  members: List(#(String, Json)),
  key: String,
) -> Result(Json, Nil) {
  case members {
    [] -> Error(Nil)
    [#(k, v), ..] if k == key -> Ok(v)
    [_, ..rest] -> find_member(rest, key)
  }
}

// Parts in reverse order, joined once at the end.
fn write(tree: Json, acc: List(BitArray)) -> List(BitArray) {
  case tree {
    JString(s) -> [quote(s), ..acc]
    JNumber(text) -> [<<text:utf8>>, ..acc]
    JBool(True) -> [<<"true":utf8>>, ..acc]
    JBool(False) -> [<<"false":utf8>>, ..acc]
    JNull -> [<<"null":utf8>>, ..acc]
    JArray(items) -> [
      <<"]":utf8>>,
      ..write_items(items, True, [<<"[":utf8>>, ..acc])
    ]
    JObject(members) -> [
      <<"}":utf8>>,
      ..write_members(members, True, [<<"{":utf8>>, ..acc])
    ]
  }
}

fn write_items(
  items: List(Json),
  first: Bool,
  acc: List(BitArray),
) -> List(BitArray) {
  case items {
    [] -> acc
    [item, ..rest] -> write_items(rest, False, write(item, comma(first, acc)))
  }
}

fn write_members(
  members: List(#(String, Json)),
  first: Bool,
  acc: List(BitArray),
) -> List(BitArray) {
  case members {
    [] -> acc
    [#(key, value), ..rest] ->
      write_members(
        rest,
        False,
        write(value, [<<":":utf8>>, quote(key), ..comma(first, acc)]),
      )
  }
}

fn comma(first: Bool, acc: List(BitArray)) -> List(BitArray) {
  case first {
    True -> acc
    False -> [<<",":utf8>>, ..acc]
  }
}

// The written form's escaping (`tally/pure/written`): one escaper for every
// JSON string tally writes.
fn quote(s: String) -> BitArray {
  written.json_string(s)
}

@external(erlang, "tally_bytes_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray
