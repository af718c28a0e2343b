//! Which shard holds a customer's usage: one rule for every part of tally
//! that partitions by customer (ingest, snapshots, billing), so a customer's
//! series and its invoice lines always meet in the same shard.
//!
//! The rule is XXH3-64 (seed 0) of the customer's UTF-8 bytes, modulo the
//! number of shards. It is stable across releases, machines and engines:
//! the Gleam engine computes the same number through `tally_xxh3`.

/// The shard (0-based) of `customer` among `shards` shards; 0 when `shards` is 0 or 1.
pub fn shard_of(customer: &str, shards: u32) -> u32 {
    if shards <= 1 {
        return 0;
    }
    (xxhash_rust::xxh3::xxh3_64(customer.as_bytes()) % u64::from(shards)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    // shard_of("acme", n) for n = 2..=8; XXH3-64 of "acme" is 0x44ad98655d8858e1
    // (tally_xxh3:hash64(<<"acme">>) on the BEAM gives the same).
    const PINNED: [u32; 7] = [1, 1, 1, 1, 1, 2, 1];

    #[test]
    fn one_shard_holds_everything() {
        assert_eq!(shard_of("acme", 1), 0);
        assert_eq!(shard_of("acme", 0), 0);
    }

    #[test]
    fn the_rule_is_xxh3_modulo_the_count() {
        // Pinned values: changing the rule would move customers between the
        // shards of a running installation, whose snapshots hold them.
        let pinned: Vec<u32> = (2..9).map(|n| shard_of("acme", n)).collect();
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b"acme"), 0x44ad_9865_5d88_58e1);
        assert_eq!(pinned, PINNED);
    }

    #[test]
    fn customers_spread_over_the_shards() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[shard_of(&format!("customer-{i}"), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }
}
