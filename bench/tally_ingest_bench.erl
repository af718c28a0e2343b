%% The release's ingest paths side by side, from the BEAM, on one data file
%% cut in chunks at line ends as a collector cuts it (1 MB by default):
%%
%%   terms     parse_chunk -> events as terms -> grouped by shard in Erlang
%%             -> aggregator_add_events per shard (the path before #15)
%%   feed      aggregator_feed: a streaming parser straight into one aggregator
%%   batches   ingest_chunk -> one Rust-owned batch per shard
%%             -> aggregator_apply_batch per shard, one process
%%   parallel  the same with each shard a process of its own, applying its
%%             batches on a dirty scheduler while the collector ingests the next chunk
%%
%%   make bench-ingest FILE=/tmp/x.jsonl [SHARDS=4] [CHUNK=1048576] [BACKENDS=nif,port]
%%
%% Prints MB/s (input bytes over wall time) per path and backend, the
%% fastest of RUNS runs (default 3): the VM's neighbours only add time.
-module(tally_ingest_bench).

-export([main/0, cut/2]).

-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).
-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).

-spec main() -> no_return().
main() ->
    File = os:getenv("FILE", "/tmp/tally-bench-100mb.jsonl"),
    Shards = list_to_integer(os:getenv("SHARDS", "4")),
    ChunkSize = list_to_integer(os:getenv("CHUNK", "1048576")),
    Runs = list_to_integer(os:getenv("RUNS", "3")),
    Backends = [list_to_atom(B) || B <- string:tokens(os:getenv("BACKENDS", "nif,port"), ",")],
    {ok, Data} = file:read_file(File),
    Chunks = cut(Data, ChunkSize),
    MB = byte_size(Data) / 1.0e6,
    {ok, _} = tally_port:start_link(#{name => tally_port_default, timeout => 600000}),
    io:format("ingest paths: ~s, ~.1f MB in ~b chunks, ~b shards, ~b schedulers, ~b dirty CPU schedulers~n",
              [File, MB, length(Chunks), Shards, erlang:system_info(schedulers_online),
               erlang:system_info(dirty_cpu_schedulers_online)]),
    io:format("~-10s ~-9s ~12s ~16s~n", ["backend", "path", "MB/s", "counted events"]),
    [begin
         Rows = [{Path, best(Runs, fun() -> run(Path, B, Chunks, Shards) end)}
                 || Path <- [terms, feed, batches, parallel]],
         [io:format("~-10s ~-9s ~12.1f ~16b~n", [B, Path, MB / Secs, Applied]) || {Path, {Secs, Applied}} <- Rows],
         {_, {Terms, _}} = lists:keyfind(terms, 1, Rows),
         {_, {Feed, _}} = lists:keyfind(feed, 1, Rows),
         {_, {Batches, _}} = lists:keyfind(batches, 1, Rows),
         {_, {Par, _}} = lists:keyfind(parallel, 1, Rows),
         io:format("~-10s batches/terms ~.2fx, batches/feed ~.2fx, parallel/feed ~.2fx~n",
                   [B, Terms / Batches, Feed / Batches, Feed / Par])
     end || B <- Backends],
    halt(0).

%% The fastest of N runs: {Seconds, events counted}.
best(N, Fun) ->
    lists:min([begin
                   garbage_collect(),
                   {Us, Applied} = timer:tc(Fun),
                   {Us / 1.0e6, Applied}
               end || _ <- lists:seq(1, N)]).

call(B, Op, Args) ->
    {ok, V} = tally_engine:call(B, Op, Args),
    V.

aggregators(B, N) -> [call(B, aggregator_new, [?CONFIG]) || _ <- lists:seq(1, N)].

applied(B, Aggs) ->
    lists:sum([element(2, call(B, aggregator_counters, [A])) || A <- Aggs]).

release(port, Aggs) -> [call(port, release, [A]) || A <- Aggs];
release(_, _) -> ok.

run(terms, B, Chunks, Shards) ->
    Aggs = list_to_tuple(aggregators(B, Shards)),
    [begin
         {parsed, Events, _, _} = call(B, parse_chunk, [json_lines, ?OPTIONS, C]),
         ByShard = lists:foldl(fun(E, Acc) ->
                                       I = erlang:phash2(element(4, E), Shards),
                                       maps:update_with(I, fun(L) -> [E | L] end, [E], Acc)
                               end, #{}, Events),
         [call(B, aggregator_add_events, [element(I + 1, Aggs), lists:reverse(L)]) || {I, L} <- maps:to_list(ByShard)]
     end || C <- Chunks],
    done(B, tuple_to_list(Aggs));
run(feed, B, Chunks, _Shards) ->
    [A] = aggregators(B, 1),
    P = call(B, parser_new, [json_lines, ?OPTIONS]),
    [call(B, aggregator_feed, [A, P, C]) || C <- Chunks],
    call(B, aggregator_finish, [A, P]),
    _ = B =:= port andalso call(port, release, [P]),
    done(B, [A]);
run(batches, B, Chunks, Shards) ->
    Aggs = aggregators(B, Shards),
    [begin
         {ingested, Batches, _, _} = call(B, ingest_chunk, [json_lines, ?OPTIONS, Shards, C]),
         [call(B, aggregator_apply_batch, [A, Batch]) || {A, Batch} <- lists:zip(Aggs, Batches)]
     end || C <- Chunks],
    done(B, Aggs);
run(parallel, B, Chunks, Shards) ->
    Aggs = aggregators(B, Shards),
    Self = self(),
    Workers = [spawn_link(fun() -> shard(B, A, Self) end) || A <- Aggs],
    [begin
         {ingested, Batches, _, _} = call(B, ingest_chunk, [json_lines, ?OPTIONS, Shards, C]),
         [W ! {batch, Batch} || {W, Batch} <- lists:zip(Workers, Batches)]
     end || C <- Chunks],
    [begin W ! {done, self()}, receive {applied, W} -> ok end end || W <- Workers],
    done(B, Aggs).

shard(B, A, Parent) ->
    receive
        {batch, Batch} -> call(B, aggregator_apply_batch, [A, Batch]), shard(B, A, Parent);
        {done, Parent} -> Parent ! {applied, self()}
    end.

done(B, Aggs) ->
    N = applied(B, Aggs),
    release(B, Aggs),
    N.

%% Chunks of about Size bytes, each ending at a newline.
cut(<<>>, _Size) -> [];
cut(Data, Size) when byte_size(Data) =< Size -> [Data];
cut(Data, Size) ->
    case binary:match(Data, <<"\n">>, [{scope, {Size, byte_size(Data) - Size}}]) of
        {At, 1} ->
            <<Chunk:(At + 1)/binary, Rest/binary>> = Data,
            [Chunk | cut(Rest, Size)];
        nomatch ->
            [Data]
    end.
