%% @doc Loader and stubs for the tally NIF library (native/nif).
%%
%% The library is loaded from the application's priv directory; when the
%% application is not known to the code server (a bare `-pa` build) it falls
%% back to `../priv` beside this module's beam. Every stub raises
%% `{not_loaded, tally_nif}` when the library could not be loaded.
%%
%% Every function returns `{ok, Value}` or `{error, EngineError}` in Gleam's
%% shapes (see gleam_src/tally/engine.gleam).
-module(tally_nif).

-export([engine_info/0, meter_unit/1, parse_event_line/1, parse_chunk/3,
         parser_new/2, parser_feed/2, parser_finish/1,
         aggregator_new/1, aggregator_feed/3, aggregator_finish/2, aggregator_add_events/2,
         aggregator_counters/1, aggregator_windows/1, aggregator_close_period/4, aggregator_close_shard/6,
         aggregator_close_written/6,
         aggregator_take_late/1, aggregator_export/1, aggregator_restore/1, aggregator_merge/2,
         shard_of/2, ingest_chunk/4, aggregator_apply_batch/2, batch_events/1,
         aggregator_save/3, aggregator_load/1,
         panic_for_test/1]).
-on_load(init/0).

-define(LIB, "libtally_nif").
%% Lines above this go to the dirty-scheduler twin (see native/nif/src/lib.rs).
-define(NORMAL_SCHEDULER_LINE_LIMIT, 65536).

-spec init() -> ok | {error, term()}.
init() ->
    erlang:load_nif(tally_priv:path(?LIB), 0).

-spec engine_info() -> {ok, tuple()} | {error, term()}.
engine_info() -> not_loaded().

-spec meter_unit(binary()) -> {ok, {some, atom()} | none} | {error, term()}.
meter_unit(_Meter) -> not_loaded().

-spec parse_event_line(binary()) -> {ok, {ok, tuple()} | {error, term()}} | {error, term()}.
parse_event_line(Line) when byte_size(Line) > ?NORMAL_SCHEDULER_LINE_LIMIT ->
    parse_event_line_dirty(Line);
parse_event_line(Line) ->
    parse_event_line_normal(Line).

-spec parse_event_line_normal(binary()) -> {ok, term()} | {error, term()}.
parse_event_line_normal(_Line) -> not_loaded().

-spec parse_event_line_dirty(binary()) -> {ok, term()} | {error, term()}.
parse_event_line_dirty(_Line) -> not_loaded().

%% The engine's operations; see native/nif/src/lib.rs for each. Resources
%% (parsers, aggregators) are opaque references.
-type result() :: {ok, term()} | {error, term()}.

-spec parse_chunk(atom(), tuple(), binary()) -> result().
parse_chunk(_Format, _Options, _Chunk) -> not_loaded().

-spec parser_new(atom(), tuple()) -> result().
parser_new(_Format, _Options) -> not_loaded().

-spec parser_feed(reference(), binary()) -> result().
parser_feed(_Parser, _Chunk) -> not_loaded().

-spec parser_finish(reference()) -> result().
parser_finish(_Parser) -> not_loaded().

-spec aggregator_new(tuple()) -> result().
aggregator_new(_Config) -> not_loaded().

-spec aggregator_feed(reference(), reference(), binary()) -> result().
aggregator_feed(_Aggregator, _Parser, _Chunk) -> not_loaded().

-spec aggregator_finish(reference(), reference()) -> result().
aggregator_finish(_Aggregator, _Parser) -> not_loaded().

-spec aggregator_add_events(reference(), [tuple()]) -> result().
aggregator_add_events(_Aggregator, _Events) -> not_loaded().

-spec aggregator_counters(reference()) -> result().
aggregator_counters(_Aggregator) -> not_loaded().

-spec aggregator_windows(reference()) -> result().
aggregator_windows(_Aggregator) -> not_loaded().

-spec aggregator_close_period(reference(), binary(), binary(), non_neg_integer()) -> result().
aggregator_close_period(_Aggregator, _Period, _PlansJson, _Version) -> not_loaded().

-spec aggregator_close_shard(reference(), binary(), binary(), non_neg_integer(), non_neg_integer(),
                             pos_integer()) -> result().
aggregator_close_shard(_Aggregator, _Period, _PlansJson, _Version, _Shard, _Shards) -> not_loaded().

-spec aggregator_close_written(reference(), binary(), binary(), non_neg_integer(), non_neg_integer(),
                               pos_integer()) -> result().
aggregator_close_written(_Aggregator, _Period, _PlansJson, _Version, _Shard, _Shards) -> not_loaded().

-spec aggregator_take_late(reference()) -> result().
aggregator_take_late(_Aggregator) -> not_loaded().

-spec aggregator_export(reference()) -> result().
aggregator_export(_Aggregator) -> not_loaded().

-spec aggregator_restore(binary()) -> result().
aggregator_restore(_Bytes) -> not_loaded().

-spec aggregator_merge(reference(), reference()) -> result().
aggregator_merge(_Aggregator, _Other) -> not_loaded().

%% The release's main path: events stay in Rust (see native/nif/src/lib.rs).

%% The shard (0-based) of a customer among Shards (1 or more).
-spec shard_of(binary(), pos_integer()) -> result().
shard_of(_Customer, _Shards) -> not_loaded().

%% Parses a whole chunk into one batch (a resource) per shard:
%% `{ok, {ingested, [Batch], Rejects, ParseStats}}`.
-spec ingest_chunk(atom(), tuple(), pos_integer(), binary()) -> result().
ingest_chunk(_Format, _Options, _Shards, _Chunk) -> not_loaded().

%% Counts a batch into the aggregator, once: `{ok, Counters}`.
-spec aggregator_apply_batch(reference(), reference()) -> result().
aggregator_apply_batch(_Aggregator, _Batch) -> not_loaded().

%% A batch's events as terms (inspection and tests only).
-spec batch_events(reference()) -> result().
batch_events(_Batch) -> not_loaded().

%% Writes the aggregator's snapshot and Extra to Path atomically (mode
%% 0600): `{ok, BytesWritten}`.
-spec aggregator_save(reference(), binary(), binary()) -> result().
aggregator_save(_Aggregator, _Path, _Extra) -> not_loaded().

%% Reads a snapshot back: `{ok, {loaded, Aggregator, Extra}}`.
-spec aggregator_load(binary()) -> result().
aggregator_load(_Path) -> not_loaded().

%% Panics on purpose (work | encode): for the tests that prove panics are caught.
-spec panic_for_test(work | encode) -> result().
panic_for_test(_Stage) -> not_loaded().

%% No spec on purpose: Dialyzer types erlang:nif_error/1 as returning
%% anything, so each stub keeps the type of its own -spec; a no_return()
%% here would make every caller of the NIF look like it never returns.
not_loaded() ->
    erlang:nif_error({not_loaded, ?MODULE}).
