//// Fixed process names (a tally addition, not in gleam_erlang): the names
//// the rest of the system and operators know (`tally_outbox`,
//// `tally_publisher`), where `process.new_name` would make a fresh one.
//// Only for names written in the program: a name is an atom, and no atom
//// is ever made from input.

import tally/otp/process

/// The name `text` exactly.
///
/// ```gleam
/// let outbox: process.Name(outbox.Message) = names.fixed("tally_outbox")
/// ```
@external(erlang, "tally_otp_ffi", "name_from_atom_text")
pub fn fixed(text: String) -> process.Name(message)

/// The name as text, for logs.
@external(erlang, "tally_otp_ffi", "name_text")
pub fn to_string(name: process.Name(message)) -> String
