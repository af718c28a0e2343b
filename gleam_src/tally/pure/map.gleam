//// Maps for the pure Gleam engine, through `tally_pure_ffi` (Erlang maps).

pub type Map(k, v)

@external(erlang, "tally_pure_ffi", "map_new")
pub fn new() -> Map(k, v)

@external(erlang, "tally_pure_ffi", "map_get")
pub fn get(map: Map(k, v), key: k) -> Result(v, Nil)

@external(erlang, "tally_pure_ffi", "map_put")
pub fn put(map: Map(k, v), key: k, value: v) -> Map(k, v)

@external(erlang, "tally_pure_ffi", "map_size")
pub fn size(map: Map(k, v)) -> Int

/// Every key and value, keys in ascending order (strings bytewise).
@external(erlang, "tally_pure_ffi", "sorted_pairs")
pub fn sorted_pairs(map: Map(k, v)) -> List(#(k, v))

@external(erlang, "tally_pure_ffi", "map_delete")
pub fn delete(map: Map(k, v), key: k) -> Map(k, v)

/// A map of the pairs, made at once (a key given twice keeps its last
/// value): for a big map, cheaper than one `put` after another.
@external(erlang, "maps", "from_list")
pub fn from_list(pairs: List(#(k, v))) -> Map(k, v)

/// `f` over every key and value (in no set order), from `initial`.
@external(erlang, "tally_pure_ffi", "map_fold")
pub fn fold(map: Map(k, v), initial: a, f: fn(a, k, v) -> a) -> a

/// `into` with every (key, value) of `pairs` put in, in order.
pub fn put_all(pairs: List(#(k, v)), into: Map(k, v)) -> Map(k, v) {
  case pairs {
    [] -> into
    [#(k, v), ..rest] -> put_all(rest, put(into, k, v))
  }
}

/// Every key, in ascending order.
pub fn keys(map: Map(k, v)) -> List(k) {
  keys_of(sorted_pairs(map), [])
}

fn keys_of(pairs: List(#(k, v)), acc: List(k)) -> List(k) {
  case pairs {
    [] -> reverse(acc)
    [#(k, _), ..rest] -> keys_of(rest, [k, ..acc])
  }
}

@external(erlang, "tally_pure_ffi", "reverse")
fn reverse(list: List(a)) -> List(a)
