//// JSON text for what the application writes itself (rejected lines, a
//// shard's positions): the same bytes as the engine's writer
//// (`native/core/src/written.rs`): object keys sorted, strings escaped as
//// `\"`, `\\`, `\n`, `\r`, `\t` and `\u00xx` (lowercase hex) for other
//// control characters, everything else as it is. Read JSON back with
//// `tally/pure/json_tree`.

import tally/pure/bytes

/// A JSON value to write.
pub type Json {
  JString(String)
  JInt(Int)
  JBool(Bool)
  JNull
  JArray(List(Json))
  /// Members in any order: they are written sorted by key.
  JObject(List(#(String, Json)))
}

/// The value as JSON text, without white space.
///
/// ```gleam
/// json_text.to_string(json_text.JObject([#("b", json_text.JInt(1)),
///   #("a", json_text.JString("x\n"))]))
/// // -> "{\"a\":\"x\\n\",\"b\":1}"
/// ```
pub fn to_string(json: Json) -> String {
  bytes.to_text(write(json, <<>>))
}

fn write(json: Json, out: BitArray) -> BitArray {
  case json {
    JString(s) -> string(s, out)
    JInt(n) -> bytes.append(out, <<bytes.int_to_text(n):utf8>>)
    JBool(True) -> bytes.append(out, <<"true":utf8>>)
    JBool(False) -> bytes.append(out, <<"false":utf8>>)
    JNull -> bytes.append(out, <<"null":utf8>>)
    JArray(items) -> bytes.append_byte(items_of(items, out, 91), 93)
    JObject(members) ->
      bytes.append_byte(members_of(bytes.sort(members), out, 123), 125)
  }
}

// Each item after `open` (`[`) or a comma.
fn items_of(items: List(Json), out: BitArray, sep: Int) -> BitArray {
  case items {
    [] ->
      case sep {
        44 -> out
        _ -> bytes.append_byte(out, sep)
      }
    [item, ..rest] ->
      items_of(rest, write(item, bytes.append_byte(out, sep)), 44)
  }
}

fn members_of(
  members: List(#(String, Json)),
  out: BitArray,
  sep: Int,
) -> BitArray {
  case members {
    [] ->
      case sep {
        44 -> out
        _ -> bytes.append_byte(out, sep)
      }
    [#(key, value), ..rest] ->
      members_of(
        rest,
        write(
          value,
          bytes.append_byte(string(key, bytes.append_byte(out, sep)), 58),
        ),
        44,
      )
  }
}

fn string(s: String, out: BitArray) -> BitArray {
  let b = <<s:utf8>>
  bytes.append_byte(escape(b, 0, bytes.size(b), bytes.append_byte(out, 34)), 34)
}

fn escape(b: BitArray, i: Int, size: Int, out: BitArray) -> BitArray {
  case i < size {
    False -> out
    True -> {
      let c = bytes.at(b, i)
      let out = case c {
        34 -> bytes.append(out, <<"\\\"":utf8>>)
        92 -> bytes.append(out, <<"\\\\":utf8>>)
        10 -> bytes.append(out, <<"\\n":utf8>>)
        13 -> bytes.append(out, <<"\\r":utf8>>)
        9 -> bytes.append(out, <<"\\t":utf8>>)
        _ ->
          case c < 32 {
            True ->
              bytes.append_byte(
                bytes.append_byte(
                  bytes.append(out, <<"\\u00":utf8>>),
                  hex(c / 16),
                ),
                hex(c % 16),
              )
            False -> bytes.append_byte(out, c)
          }
      }
      escape(b, i + 1, size, out)
    }
  }
}

fn hex(digit: Int) -> Int {
  case digit < 10 {
    True -> 48 + digit
    False -> 87 + digit
  }
}
