//// A whole JSON document as a tree, read with the validating scanner of
//// `tally/pure/json` (for the plans file; events are scanned, not built).

import tally/pure/bytes
import tally/pure/json
import tally/pure/map

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
