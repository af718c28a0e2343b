//! Software prefetch: the batch lookahead of aggregation (see
//! `Aggregator::apply_batch`) asks for the cache lines an event will need
//! a few events before it counts it.

/// Asks the CPU to start loading the cache line at `p` (a hint; no effect
/// on results, and none at all where no prefetch instruction is exposed).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
