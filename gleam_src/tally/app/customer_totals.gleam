//// A close's totals file, `DATA_DIR/totals/PERIOD.jsonl`: each billed
//// customer's total for the period, one JSON object a line in the written
//// form (members sorted), in the order billed (shard by shard, round by
//// round, each shard's customers in order):
////
//// ```text
//// {"amount_minor":116225,"currency":"EUR","customer":"acme","lines":5}
//// ```
////
//// `amount_minor` is in the minor units of `currency`; `lines` counts the
//// customer's invoice lines. A close answers with the totals per currency
//// and this file's path: a close of a million customers keeps their totals
//// on disk, not in its answer (they were 400 MB of terms in the caller).

import tally/app/files
import tally/billing
import tally/pure/bytes
import tally/pure/json_tree

/// Where a close of `period` writes its totals.
pub fn path(data_dir: String, period: String) -> String {
  files.join(files.join(data_dir, "totals"), period <> ".jsonl")
}

/// The totals as lines of the file, each ended by `\n`.
pub fn lines(totals: List(billing.CustomerTotal)) -> BitArray {
  lines_loop(totals, [])
}

fn lines_loop(
  totals: List(billing.CustomerTotal),
  acc: List(BitArray),
) -> BitArray {
  case totals {
    [] -> concat(bytes.reverse(acc))
    [t, ..rest] -> lines_loop(rest, [<<line(t):utf8, "\n":utf8>>, ..acc])
  }
}

fn line(t: billing.CustomerTotal) -> String {
  json_tree.to_sorted_string(
    json_tree.JObject([
      #("customer", json_tree.JString(t.customer)),
      #("currency", json_tree.JString(t.currency)),
      #("amount_minor", json_tree.int(t.amount_minor)),
      #("lines", json_tree.int(t.lines)),
    ]),
  )
}

/// Reads the totals file at `path`, or says where and why it cannot.
pub fn read(path: String) -> Result(List(billing.CustomerTotal), String) {
  case read_file(path) {
    Error(why) -> Error(path <> ": " <> why)
    Ok(contents) ->
      case parse(contents) {
        Ok(totals) -> Ok(totals)
        Error(why) -> Error(path <> ": " <> why)
      }
  }
}

/// Reads a totals file's contents back, or says which line is not a total
/// and why.
pub fn parse(
  contents: BitArray,
) -> Result(List(billing.CustomerTotal), String) {
  parse_lines(bytes.split_lines(contents), 1, [])
}

fn parse_lines(
  lines: List(BitArray),
  number: Int,
  acc: List(billing.CustomerTotal),
) -> Result(List(billing.CustomerTotal), String) {
  case lines {
    [] -> Ok(bytes.reverse(acc))
    [l, ..rest] ->
      case bytes.is_blank(l) {
        True -> parse_lines(rest, number + 1, acc)
        False ->
          case total(bytes.to_text(l)) {
            Ok(t) -> parse_lines(rest, number + 1, [t, ..acc])
            Error(why) ->
              Error("line " <> bytes.int_to_text(number) <> ": " <> why)
          }
      }
  }
}

fn total(text: String) -> Result(billing.CustomerTotal, String) {
  case json_tree.parse(text) {
    Error(why) -> Error(why)
    Ok(tree) ->
      case
        string_member(tree, "customer"),
        string_member(tree, "currency"),
        int_member(tree, "amount_minor"),
        int_member(tree, "lines")
      {
        Ok(customer), Ok(currency), Ok(amount), Ok(lines) ->
          Ok(billing.CustomerTotal(customer, currency, amount, lines))
        _, _, _, _ ->
          Error("not a total (customer, currency, amount_minor, lines)")
      }
  }
}

fn string_member(tree: json_tree.Json, key: String) -> Result(String, Nil) {
  case json_tree.member(tree, key) {
    Ok(json_tree.JString(s)) -> Ok(s)
    _ -> Error(Nil)
  }
}

fn int_member(tree: json_tree.Json, key: String) -> Result(Int, Nil) {
  case json_tree.member(tree, key) {
    Ok(json_tree.JNumber(text)) ->
      case bytes.all_digits(<<text:utf8>>) && text != "" {
        True -> Ok(bytes.parse_digits(<<text:utf8>>))
        False -> Error(Nil)
      }
    _ -> Error(Nil)
  }
}

@external(erlang, "tally_outbox_ffi", "read_file")
fn read_file(path: String) -> Result(BitArray, String)

@external(erlang, "erlang", "list_to_bitstring")
fn concat(parts: List(BitArray)) -> BitArray
