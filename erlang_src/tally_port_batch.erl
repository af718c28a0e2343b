%% @doc Batches of the port backend (native/port/src/ops.rs): the port
%% keeps each shard's events under a key `{Session, N}`; the batch the
%% caller holds is that key plus its recipe (`ingest_chunk`'s arguments and
%% the shard's index), a reference to the chunk binary, not a copy. Every
%% request that uses a batch carries both; the port owner sends the key
%% alone first and the recipe only when the port no longer holds the batch
%% (tally_port:wire_args/2), so the chunk crosses the pipe once in the usual
%% case. A batch outlives the port process that made it: applied after a
%% port restart, or replayed from the owner's journal, it is parsed again
%% from its recipe and counts the same events. `aggregator_apply_batch` is journaled like any change to an
%% aggregator (tally_port_log); `ingest_chunk` changes no journaled state.
-module(tally_port_batch).

-export([call/3, ingest_chunk/5, apply_batch/3, events/2]).

-type port_ref() :: pid() | atom() | tally_port:ref().
-opaque batch() :: {port_batch, {integer(), integer()}, {atom(), tuple(), pos_integer(), non_neg_integer(), binary()}}.
-export_type([batch/0]).

%% The port's requests that take or return batches, as the generated Gleam
%% bindings (tally/port.gleam) send them: the table names this module as the
%% one that holds the batch resource for the port's caller.
-spec call(port_ref(), ingest_chunk | aggregator_apply_batch | batch_events, tuple()) ->
          {ok, term()} | {error, term()}.
call(Port, ingest_chunk, {Format, Options, Shards, Chunk}) ->
    ingest_chunk(Port, Format, Options, Shards, Chunk);
call(Port, aggregator_apply_batch, {Aggregator, Batch}) ->
    apply_batch(Port, Aggregator, Batch);
call(Port, batch_events, {Batch}) ->
    events(Port, Batch).

%% `tally_engine:call(port, ingest_chunk, [Format, Options, Shards, Chunk])`.
-spec ingest_chunk(port_ref(), atom(), tuple(), pos_integer(), binary()) -> {ok, term()} | {error, term()}.
ingest_chunk(Port, Format, Options, Shards, Chunk) ->
    case tally_port:call(Port, ingest_chunk, {Format, Options, Shards, Chunk}) of
        {ok, Ingested} ->
            Keys = tally_values:ingested_batches(Ingested),
            Batches = [{port_batch, Key, {Format, Options, Shards, I, Chunk}}
                       || {I, Key} <- lists:zip(lists:seq(0, length(Keys) - 1), Keys)],
            {ok, tally_values:ingested(Batches, tally_values:ingested_rejects(Ingested),
                                       tally_values:ingested_stats(Ingested))};
        Other ->
            Other
    end.

-spec apply_batch(port_ref(), term(), batch()) -> {ok, term()} | {error, term()}.
apply_batch(Port, Aggregator, {port_batch, Key, {Format, Options, Shards, I, Chunk}}) ->
    tally_port:call(Port, aggregator_apply_batch, {Aggregator, Key, Format, Options, Shards, I, Chunk});
apply_batch(_Port, _Aggregator, _Other) ->
    {error, tally_values:bad_argument(<<"a batch">>)}.

-spec events(port_ref(), batch()) -> {ok, term()} | {error, term()}.
events(Port, {port_batch, Key, {Format, Options, Shards, I, Chunk}}) ->
    tally_port:call(Port, batch_events, {Key, Format, Options, Shards, I, Chunk});
events(_Port, _Other) ->
    {error, tally_values:bad_argument(<<"a batch">>)}.
