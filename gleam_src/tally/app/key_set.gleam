//// A set of text keys off the process heap: an ETS set owned by the
//// process that makes it, gone with that process or with `drop`. For the
//// keys of a period, millions at a million customers, which on a heap
//// every garbage collection would copy again: the keys a file sink's file
//// held when it opened (`tally/app/sink_file`) and the keys a period issued
//// (`tally/app/reissue`).
////
//// ```gleam
//// let set = key_set.new()
//// key_set.insert(set, ["a", "b"])
//// key_set.member(set, "a")  // -> True
//// key_set.drop(set)
//// ```

/// The set (a reference: every copy of it is the same set).
pub type KeySet

/// An empty set.
@external(erlang, "tally_key_set_ffi", "new")
pub fn new() -> KeySet

/// Puts `keys` in (each copied: a key cut from a big binary would keep it).
@external(erlang, "tally_key_set_ffi", "insert")
pub fn insert(set: KeySet, keys: List(String)) -> Nil

/// Whether `key` is in the set.
@external(erlang, "tally_key_set_ffi", "member")
pub fn member(set: KeySet, key: String) -> Bool

/// Every key, in ascending byte order.
@external(erlang, "tally_key_set_ffi", "sorted")
pub fn sorted(set: KeySet) -> List(String)

/// Deletes the set; it is not to be used after.
@external(erlang, "tally_key_set_ffi", "drop")
pub fn drop(set: KeySet) -> Nil
