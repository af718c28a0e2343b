//// What a sink is given and what it answers: the publisher hands a batch
//// of outbox items to a sink (`tally/app/sink_file`, `tally/app/sink_nats`)
//// and removes from the outbox exactly the keys the sink acknowledged.

import tally/pure/bytes

/// One outbox item: its key (an invoice line's key and version, the
/// message id the sink dedups by), the bus subject, the payload.
pub type Item {
  Item(key: String, subject: String, payload: BitArray)
}

/// A batch as the engine wrote it (an outbox entry kept whole): its bus
/// subject and its lines as they go into a file.
pub type Written {
  Written(subject: String, batch: WrittenBatch)
}

/// `count` lines: `ids`, their message ids, one a line; `lines`, the JSON
/// Lines themselves.
pub type WrittenBatch {
  WrittenBatch(count: Int, ids: BitArray, lines: BitArray)
}

/// An item the sink refuses for good: `size` bytes over the bus's `max`.
pub type Refused {
  Refused(key: String, size: Int, max: Int)
}

/// What became of a batch; `acked` holds every key that is now stored in
/// the sink, whatever happened to the others.
pub type Outcome {
  /// Every item is stored.
  Published(acked: List(String))
  /// Some items can never be stored (over the bus's limit): the publisher
  /// parks them; any other item not acked is tried again.
  TooLarge(acked: List(String), refused: List(Refused))
  /// The sink failed for now (the bus is down, the disk is full): the items
  /// not acked are tried again later.
  Failed(acked: List(String), reason: String)
}

/// The keys acknowledged by an outcome.
///
/// ```gleam
/// acked(Failed(["k1"], "not connected"))
/// // -> ["k1"]
/// ```
pub fn acked(outcome: Outcome) -> List(String) {
  case outcome {
    Published(keys) -> keys
    TooLarge(keys, _) -> keys
    Failed(keys, _) -> keys
  }
}

/// Each item's own result in, the batch's outcome out: every key stored
/// counts; items over the limit are refused for good; otherwise the first
/// other failure says why the batch must be tried again.
pub fn outcome(results: List(#(String, Result(Nil, ItemFailure)))) -> Outcome {
  collect(results, [], [], [])
}

/// Why one item was not stored.
pub type ItemFailure {
  /// Over the bus's `max_payload`: it never fits.
  OverLimit(size: Int, max: Int)
  /// Anything that may pass.
  Transient(reason: String)
}

fn collect(
  results: List(#(String, Result(Nil, ItemFailure))),
  acked: List(String),
  refused: List(Refused),
  reasons: List(String),
) -> Outcome {
  case results {
    [] ->
      case bytes.reverse(reasons), refused {
        [reason, ..], _ -> Failed(bytes.reverse(acked), reason)
        [], [] -> Published(bytes.reverse(acked))
        [], _ -> TooLarge(bytes.reverse(acked), bytes.reverse(refused))
      }
    [#(key, Ok(Nil)), ..rest] -> collect(rest, [key, ..acked], refused, reasons)
    [#(key, Error(OverLimit(size, max))), ..rest] ->
      collect(rest, acked, [Refused(key, size, max), ..refused], reasons)
    [#(_, Error(Transient(reason))), ..rest] ->
      collect(rest, acked, refused, [reason, ..reasons])
  }
}
