//// What the application publishes besides the lines themselves (whose
//// written form the engine writes: `aggregate.close_written`, with
//// `tally/pure/written` as its pure twin): the id a line or a void is
//// published under (`KEY/vVERSION`), the schema header, and the voids of a
//// reissue, whose fields are a line key's decoded parts.

import tally/pure/bytes
import tally/pure/written as form

/// A void: the line `key` of an earlier version is gone from `version`.
/// Its customer, resource, meter, measure and period are `parts`, the key's
/// decoded parts (`key_parts`); keys in byte order, no spaces, strings
/// escaped as in a line.
///
/// ```gleam
/// let assert Ok(parts) = key_parts("acme/*/requests/total/2026-10")
/// void_json("acme/*/requests/total/2026-10", parts, 2)
/// // "{\"customer\":\"acme\",...,\"version\":2,\"void\":true}"
/// ```
pub fn void_json(key: String, parts: KeyParts, version: Int) -> String {
  bytes.to_text(
    concat([
      <<"{\"customer\":":utf8>>,
      form.json_string(parts.customer),
      <<",\"key\":":utf8>>,
      form.json_string(key),
      <<",\"measure\":":utf8>>,
      form.json_string(parts.measure),
      <<",\"meter\":":utf8>>,
      form.json_string(parts.meter),
      <<",\"period\":":utf8>>,
      form.json_string(parts.period),
      <<",\"resource\":":utf8>>,
      form.json_string(parts.resource),
      <<",\"version\":":utf8>>,
      <<bytes.int_to_text(version):utf8>>,
      <<",\"void\":true}":utf8>>,
    ]),
  )
}

@external(erlang, "erlang", "list_to_bitstring")
fn concat(pieces: List(BitArray)) -> BitArray

/// The five parts of a line key, percent-decoded.
pub type KeyParts {
  KeyParts(
    customer: String,
    resource: String,
    meter: String,
    measure: String,
    period: String,
  )
}

/// A key's parts (`billing::line_key` percent-encodes each and joins them
/// with `/`); an error for a key that does not have five parts.
///
/// ```gleam
/// key_parts("a%2Fb/*/requests/total/2026-10")
/// // Ok(KeyParts("a/b", "*", "requests", "total", "2026-10"))
/// ```
pub fn key_parts(key: String) -> Result(KeyParts, Nil) {
  case split_key(key) {
    [c, r, m, me, p] ->
      Ok(KeyParts(customer: c, resource: r, meter: m, measure: me, period: p))
    _ -> Error(Nil)
  }
}

@external(erlang, "tally_outbox_ffi", "key_parts")
fn split_key(key: String) -> List(String)

/// What a line (or a void) is published under: `KEY/vVERSION`
/// (unambiguous: a key's parts never hold a bare `/`). The stream's
/// duplicate window, the outbox's memory and the file sink work on it, so a
/// reissue is never taken for a copy of the earlier version.
///
/// ```gleam
/// msg_id("acme/*/requests/total/2026-10", 2)
/// // "acme/*/requests/total/2026-10/v2"
/// ```
pub fn msg_id(key: String, version: Int) -> String {
  key <> "/v" <> bytes.int_to_text(version)
}

/// The `Tally-Schema` header: the JSON Schema a message follows
/// (contract/invoice_line.v1.schema.json).
pub fn schema() -> String {
  "invoice_line.v1"
}
