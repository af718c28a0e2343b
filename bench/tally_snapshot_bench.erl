%% Bytes written by snapshot saves over an ingest, per backend: the
%% release's path (ingest_chunk, then aggregator_apply_batch per shard) on
%% the first MB megabytes of a data file cut in 1 MB chunks at line ends,
%% every shard saved (aggregator_save, with its positions as the extra)
%% after every SAVE_EVERY chunks and once at the end.
%%
%%   make bench-snapshot [FILE=path | DATA_DIR=dir of bench-job's data, default _build/bench/data]
%%       [MB=20] [SHARDS=4] [SAVE_EVERY=1] [BACKENDS=gleam,nif]
%%
%% Prints per backend: saves, how many wrote a base, bytes written, the
%% bytes a whole base at every save would have written (each save's
%% export with the snapshot's framing and a new log's header: what the pure
%% engine wrote before it appended deltas), the final state (every
%% shard's base as it would be written at the end), written / final, the
%% seconds spent in saves and in the whole run (which includes an export
%% at every save, for the whole-base figure).
-module(tally_snapshot_bench).

-export([main/0]).

-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).
-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
%% A base's framing around the export (magic, version, extra length,
%% checksum) and a log's header.
-define(BASE_FRAMING, (8 + 4 + 8 + 8)).
-define(LOG_HEADER, 20).

-spec main() -> no_return().
main() ->
    %% FILE, or bench-job's 100 MB / 10k-customer file (made when missing).
    File = case os:getenv("FILE") of
               false -> tally_job_bench:data_file(100, 40000, os:getenv("DATA_DIR", "_build/bench/data"));
               Path -> Path
           end,
    Mb = list_to_integer(os:getenv("MB", "20")),
    Shards = list_to_integer(os:getenv("SHARDS", "4")),
    Every = list_to_integer(os:getenv("SAVE_EVERY", "1")),
    Backends = [list_to_atom(B) || B <- string:tokens(os:getenv("BACKENDS", "gleam,nif"), ",")],
    {ok, F} = file:open(File, [read, raw, binary]),
    {ok, Data} = file:pread(F, 0, Mb * 1000000),
    ok = file:close(F),
    Chunks = cut(Data, 1048576),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "tally-snapshot-bench-" ++ os:getpid()),
    ok = filelib:ensure_path(Dir),
    io:format("snapshot saves: ~s, first ~.1f MB in ~b chunks, ~b shards, a save after every ~b chunk(s)~n",
              [File, byte_size(Data) / 1.0e6, length(Chunks), Shards, Every]),
    io:format("~-8s ~6s ~6s ~14s ~18s ~14s ~14s ~8s ~8s~n",
              ["backend", "saves", "bases", "written MB", "whole-base MB", "final MB", "written/final",
               "save s", "s"]),
    [row(B, Chunks, Shards, Every, Dir) || B <- Backends],
    _ = [file:delete(filename:join(Dir, N)) || N <- element(2, file:list_dir(Dir))],
    ok = file:del_dir(Dir),
    halt(0).

row(B, Chunks, Shards, Every, Dir) ->
    Paths = [list_to_binary(filename:join(Dir, atom_to_list(B) ++ "-" ++ integer_to_list(I) ++ ".snap"))
             || I <- lists:seq(1, Shards)],
    Aggs = [call(B, aggregator_new, [?CONFIG]) || _ <- Paths],
    T0 = erlang:monotonic_time(millisecond),
    {_, Saves} = lists:foldl(
                   fun(C, {N, Acc}) ->
                           {ingested, Batches, _, _} = call(B, ingest_chunk, [json_lines, ?OPTIONS, Shards, C]),
                           _ = [call(B, aggregator_apply_batch, [A, Batch]) || {A, Batch} <- lists:zip(Aggs, Batches)],
                           case (N + 1) rem Every of
                               0 -> {N + 1, save_all(B, Aggs, Paths, N + 1) ++ Acc};
                               _ -> {N + 1, Acc}
                           end
                   end, {0, []}, Chunks),
    Last = case length(Chunks) rem Every of
               0 -> [];
               _ -> save_all(B, Aggs, Paths, length(Chunks))
           end,
    Secs = (erlang:monotonic_time(millisecond) - T0) / 1000,
    All = Saves ++ Last,
    Written = lists:sum([W || {W, _, _, _} <- All]),
    Whole = lists:sum([X || {_, X, _, _} <- All]),
    Bases = length([b || {_, _, true, _} <- All]),
    SaveSecs = lists:sum([Us || {_, _, _, Us} <- All]) / 1.0e6,
    Final = lists:sum([whole_base(B, A, extra(length(Chunks))) - ?LOG_HEADER || A <- Aggs]),
    io:format("~-8s ~6b ~6b ~14.1f ~18.1f ~14.1f ~14.2f ~8.1f ~8.1f~n",
              [B, length(All), Bases, Written / 1.0e6, Whole / 1.0e6, Final / 1.0e6, Written / Final, SaveSecs,
               Secs]).

%% Each shard saved: {bytes written, bytes of a whole base, whether it
%% wrote one, microseconds the save took}.
save_all(B, Aggs, Paths, N) ->
    Extra = extra(N),
    [begin
         Whole = whole_base(B, A, Extra),
         {Us, Written} = timer:tc(fun() -> call(B, aggregator_save, [A, P, Extra]) end),
         %% A base is written with its log's header; a delta is smaller than a base.
         {Written, Whole, Written =:= Whole, Us}
     end || {A, P} <- lists:zip(Aggs, Paths)].

whole_base(B, A, Extra) ->
    byte_size(call(B, aggregator_export, [A])) + ?BASE_FRAMING + byte_size(Extra) + ?LOG_HEADER.

extra(N) -> <<"positions:", (integer_to_binary(N))/binary>>.

call(B, Op, Args) ->
    {ok, V} = tally_engine:call(B, Op, Args),
    V.

%% Chunks of about Size bytes, each ending at a newline, as
%% tally_ingest_bench cuts them (a last line cut off by MB is left out).
cut(Data, Size) ->
    {Last, 1} = lists:last(binary:matches(Data, <<"\n">>)),
    tally_ingest_bench:cut(binary:part(Data, 0, Last + 1), Size).
