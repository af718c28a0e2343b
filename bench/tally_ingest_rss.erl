%% Ingest of one file by the running application (collectors, engine
%% batches, shards, snapshots), as the release does it: prints MB/s, the
%% VM's peak RSS (VmHWM), the snapshots written during ingest and the size
%% of the final ones. Used to check that peak RSS stays flat at a fixed key
%% count as the input grows (with dedup off) and that the bytes written
%% stay near the final snapshots' size.
%%
%%   python3 bench/gen_data.py --format jsonl --mb 100 --keys 100000 --out /tmp/d100.jsonl
%%   erlc -o _build/bench bench/tally_ingest_rss.erl
%%   erl -noshell -pa _build/default/lib/tally/ebin -pa _build/bench \
%%       -eval 'tally_ingest_rss:main(["/tmp/d100.jsonl", "false", "2", "nif"])'
-module(tally_ingest_rss).

-export([main/1]).

-spec main([string()]) -> no_return().
main([Input, Dedup, Shards, Backend]) ->
    Dir = string:trim(os:cmd("mktemp -d -t tally-rss-XXXXXX")),
    Env = [{data_dir, filename:join(Dir, "data")}, {backend, list_to_atom(Backend)},
           {shards, list_to_integer(Shards)}, {dedup, list_to_atom(Dedup)},
           {poll_ms, 3600000}, {plans, none}, {bus, none},
           {sources, [#{name => <<"edge">>, format => json_lines, path => Input}]}],
    logger:set_primary_config(level, error),
    application:load(tally),
    [application:set_env(tally, K, V) || {K, V} <- Env],
    {ok, _} = application:ensure_all_started(tally),
    T0 = erlang:monotonic_time(millisecond),
    ok = tally_pipeline:sync(),
    Ms = max(1, erlang:monotonic_time(millisecond) - T0),
    #{shards := Counters} = tally_pipeline:status(),
    Written = lists:sum([maps:get(snapshot_bytes, C) || C <- Counters]),
    Snapshots = lists:sum([maps:get(snapshots, C) || C <- Counters]),
    nil = 'tally@app@ingest_supervisor':snapshot_all(),
    %% A shard's snapshot is its base and its log of deltas.
    Final = lists:sum([filelib:file_size(F) || Pattern <- ["*.snapshot", "*.snapshot.log"],
                                               F <- filelib:wildcard(filename:join([Dir, "data", "shards", Pattern]))]),
    Bytes = filelib:file_size(Input),
    Peak = status_mb("VmHWM"),
    io:format("input ~.1f MB, dedup ~s, ~s shards, ~s: ingest ~.1f s, ~.1f MB/s, events ~b, peak RSS ~b MB "
              "(at the end ~b MB, of which the VM's own ~b MB; peak/final ~.2f), "
              "~b snapshots written during ingest (~.1f MB), final snapshots ~.1f MB (written/final ~.2f)~n",
              [Bytes / 1.0e6, Dedup, Shards, Backend, Ms / 1000, Bytes / 1.0e3 / Ms,
               lists:sum([maps:get(applied, C) || C <- Counters]), Peak, status_mb("VmRSS"),
               erlang:memory(total) div 1048576, Peak * 1048576 / max(1, Final), Snapshots, Written / 1.0e6,
               Final / 1.0e6, Written / max(1, Final)]),
    _ = os:cmd("rm -rf " ++ Dir),
    halt(0).

%% A figure of /proc/self/status (VmHWM: the peak RSS; VmRSS: now), in MiB.
status_mb(Field) ->
    {ok, Status} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]), binary:match(L, list_to_binary(Field)) =/= nomatch],
    [_, Kb | _] = string:lexemes(binary_to_list(Line), " \t"),
    list_to_integer(Kb) div 1024.
