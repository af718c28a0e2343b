%% @doc One way for the OTP side to call the engine, whichever backend the
%% configuration names: `nif` (Rust in the VM), `port` (Rust in the
%% supervised default port, `tally_port_default`) or `gleam` (the pure
%% Gleam engine, `tally@pure`). All return the same terms.
%%
%% The release's main path, where no usage event becomes a term:
%%   shard_of(Customer, Shards) -> {ok, Index}             the one customer-to-shard rule
%%   ingest_chunk(Format, ParserOptions, Shards, Chunk)
%%       -> {ok, {ingested, [Batch], Rejects, ParseStats}}  one opaque Batch per shard
%%   aggregator_apply_batch(Aggregator, Batch) -> {ok, Counters}   a batch is applied once
%%   aggregator_save(Aggregator, Path, Extra) -> {ok, BytesWritten}
%%   aggregator_load(Path) -> {ok, {loaded, Aggregator, Extra}}
%%   batch_events(Batch) -> {ok, [UsageEvent]}              inspection and tests only
%% A Batch is a resource (nif), a port batch with its recipe
%% (tally_port_batch), or the event list (gleam).
-module(tally_engine).

-export([call/3]).

-type backend() :: nif | port | gleam.
-export_type([backend/0]).

-spec call(backend(), atom(), [term()]) -> {ok, term()} | {error, term()}.
call(nif, Op, Args) -> apply(tally_nif, Op, Args);
call(port, ingest_chunk, Args) -> apply(tally_port_batch, ingest_chunk, [tally_port_default | Args]);
call(port, aggregator_apply_batch, [A, Batch]) -> tally_port_batch:apply_batch(tally_port_default, A, Batch);
call(port, batch_events, [Batch]) -> tally_port_batch:events(tally_port_default, Batch);
call(port, Op, Args) -> tally_port:call(tally_port_default, Op, list_to_tuple(Args));
call(gleam, Op, Args) -> apply('tally@pure', Op, Args).
