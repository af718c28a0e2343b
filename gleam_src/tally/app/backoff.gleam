//// Exponential backoff with jitter, as pure arithmetic: the caller draws
//// the random number (the actors use `rand:uniform/1`), so the schedule is
//// tested without processes or clocks.

/// The wait before the next attempt and the backoff after it: jitter from
/// 0.5x to 1.5x of `backoff` (`random` is uniform in 1..backoff), the
/// backoff doubling up to `ceiling`.
///
/// ```gleam
/// backoff.next(backoff: 100, random: 50, ceiling: 5000)
/// // -> #(100, 200)
/// ```
pub fn next(
  backoff backoff: Int,
  random random: Int,
  ceiling ceiling: Int,
) -> #(Int, Int) {
  let doubled = case backoff * 2 > ceiling {
    True -> ceiling
    False -> backoff * 2
  }
  #(backoff / 2 + random, doubled)
}
