%% Ingest: collectors and shards on real files, with the application
%% running (no bus). Each case writes its own inputs: over-long lines,
%% rotation by rename and by copy-and-truncate, half-written lines,
%% restarts that must be exact by position (no duplicates for the
%% aggregator's dedup to drop), late events after a shard crash, and files
%% that must not crash their collector.
-module(tally_ingest_tests).
-include_lib("eunit/include/eunit.hrl").
-export([events/3, event/2]).

tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-ingest-XXXXXX")).

env(Dir, Sources) -> env(Dir, Sources, []).
env(Dir, Sources, Extra) ->
    [{data_dir, filename:join(Dir, "data")}, {backend, nif}, {shards, 3}, {snapshot_ms, 600000},
     {poll_ms, 20}, {sources, Sources}, {plans, filename:absname("sample/plans.json")},
     {subject, <<"tally.invoices">>}, {bus, none} | Extra].

start(Env) ->
    [application:set_env(tally, K, V) || {K, V} <- Env],
    {ok, _} = application:ensure_all_started(tally),
    ok.

stop() ->
    _ = application:stop(tally),
    [application:unset_env(tally, K) || {K, _} <- application:get_all_env(tally)],
    ok.

run(Fun) -> {timeout, 120, fun() -> tally_test_support:quiet(Fun) end}.

event(Id, Customer) -> event(Id, Customer, <<"2026-10-02T00:00:00Z">>).
event(Id, Customer, Time) ->
    <<"{\"id\":\"", Id/binary, "\",\"source\":\"/t\",\"subject\":\"", Customer/binary, "\",\"time\":\"",
      Time/binary, "\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}">>.

events(Prefix, From, To) ->
    << <<(event(<<Prefix/binary, (integer_to_binary(I))/binary>>, <<"c", (integer_to_binary(I rem 7))/binary>>))/binary,
         "\n">> || I <- lists:seq(From, To) >>.

stats(Source) ->
    #{collectors := #{Source := Stats}} = tally_pipeline:status(),
    Stats.

%% Sum over the shards of what the aggregators counted.
applied() ->
    Counters = maps:get(shards, tally_pipeline:status()),
    {lists:sum([A || #{applied := A} <- Counters]), lists:sum([D || #{duplicates := D} <- Counters])}.

customers() ->
    #{shards := N} = tally_config:get(),
    Windows = lists:append([W || I <- lists:seq(0, N - 1), {ok, W} <- [tally_shard:windows(tally_shard:name(I))]]),
    lists:usort([element(2, W) || W <- Windows]).  % window_aggregate: its customer

rejects(Dir) ->
    case file:read_file(filename:join([Dir, "data", "rejects.jsonl"])) of
        {ok, Bin} -> [R || L <- binary:split(Bin, <<"\n">>, [global, trim_all]), {ok, R} <- [tally_json:decode(L)]];
        {error, enoent} -> []
    end.

jsonl_source(Path) -> jsonl_source(Path, 1048576).
jsonl_source(Path, Chunk) ->
    #{name => <<"edge">>, format => json_lines, path => Path, chunk_bytes => Chunk}.

%%% #16.3: an over-long line is rejected whole; nothing after its start counts until its newline.

over_long_line_smuggles_nothing_test_() -> run(fun() -> over_long(1048576) end).
over_long_line_smuggles_nothing_with_small_chunks_test_() -> run(fun() -> over_long(4096) end).

over_long(Chunk) ->
    Dir = tmp_dir(),
    Path = filename:join(Dir, "in.jsonl"),
    X = binary:copy(<<"X">>, 1048576),
    ok = file:write_file(Path, [event(<<"a1">>, <<"alice">>), "\n", X, event(<<"v1">>, <<"victim">>), "\n",
                                event(<<"b1">>, <<"bob">>), "\n"]),
    start(env(Dir, [jsonl_source(Path, Chunk)])),
    try
        ok = tally_pipeline:sync(),
        ?assertMatch(#{records := 3, events := 2, rejected := 1}, stats(<<"edge">>)),
        ?assertEqual([<<"alice">>, <<"bob">>], customers()),
        [R] = rejects(Dir),
        ?assertMatch(#{<<"line">> := 2, <<"reason">> := #{<<"kind">> := <<"line_too_long">>,
                                                          <<"limit">> := 1048576}}, R),
        Length = maps:get(<<"length">>, maps:get(<<"reason">>, R)),
        ?assertEqual(1048576 + byte_size(event(<<"v1">>, <<"victim">>)), Length),
        ?assertEqual(byte_size(event(<<"a1">>, <<"alice">>)) + 1, maps:get(<<"offset">>, R))
    after stop() end.

%% A line longer than a chunk but within max_line is one line, not a reject.
a_line_longer_than_a_chunk_is_read_whole_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        Long = event(binary:copy(<<"i">>, 6000), <<"carol">>),
        ok = file:write_file(Path, [event(<<"a1">>, <<"alice">>), "\n", Long, "\n"]),
        start(env(Dir, [jsonl_source(Path, 4096)])),
        try
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 2, events := 2, rejected := 0}, stats(<<"edge">>))
        after stop() end
    end).

%% An over-long line still being written waits for its end, then is one reject.
an_unfinished_over_long_line_waits_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, [event(<<"a1">>, <<"alice">>), "\n", binary:copy(<<"X">>, 1100000)]),
        start(env(Dir, [jsonl_source(Path, 65536)])),
        try
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 1, rejected := 0}, stats(<<"edge">>)),
            ok = file:write_file(Path, [binary:copy(<<"X">>, 1000), event(<<"v1">>, <<"victim">>), "\n",
                                        event(<<"b1">>, <<"bob">>), "\n"], [append]),
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 3, events := 2, rejected := 1}, stats(<<"edge">>)),
            ?assertEqual([<<"alice">>, <<"bob">>], customers())
        after stop() end
    end).

%%% #15.5, #16.6: files by identity, positions per file, restarts exact by position.

rotation_by_rename_loses_nothing_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 1000)),
        start(env(Dir, [jsonl_source(Path, 65536)])),
        try
            ok = tally_pipeline:sync(),
            %% More is written, the last line half; then the file is rotated and a new one begun.
            Tail = event(<<"a-last">>, <<"dave">>),
            ok = file:write_file(Path, [events(<<"a">>, 1001, 1500), Tail], [append]),
            ok = file:rename(Path, Path ++ ".1"),
            ok = file:write_file(Path, events(<<"b">>, 1, 3000)),
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 4501, events := 4501, rejected := 0}, stats(<<"edge">>)),
            ?assertEqual({4501, 0}, applied())
        after stop() end
    end).

%% Rotated while the application was down: the renamed file is finished
%% (found beside the path by its identity) before the new one is read.
rotated_while_stopped_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 1000)),
        Env = env(Dir, [jsonl_source(Path, 65536)]),
        start(Env),
        try ok = tally_pipeline:sync() after stop() end,
        ok = file:write_file(Path, events(<<"a">>, 1001, 1200), [append]),
        ok = file:rename(Path, Path ++ ".1"),
        ok = file:write_file(Path, events(<<"b">>, 1, 300)),
        start(Env),
        try
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 500, rejected := 0}, stats(<<"edge">>)),
            ?assertEqual({1500, 0}, applied())
        after stop() end
    end).

%% Copy-and-truncate, the file regrowing past the old offset before the next poll.
copy_and_truncate_is_seen_after_regrowth_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 100)),
        start(env(Dir, [jsonl_source(Path, 65536)])),
        try
            ok = tally_pipeline:sync(),
            {ok, Io} = file:open(Path, [read, write, raw, binary]),
            ok = file:truncate(Io),
            ok = file:close(Io),
            ok = file:write_file(Path, events(<<"b">>, 1, 300), [append]),
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 400, rejected := 0}, stats(<<"edge">>)),
            ?assertEqual({400, 0}, applied())
        after stop() end
    end).

%% Shards and collectors killed while reading: every event applied once,
%% by position (the aggregators' dedup finds nothing to drop).
kills_are_exact_by_position_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 20000)),
        start(env(Dir, [jsonl_source(Path, 4096)], [{snapshot_ms, 30}])),
        try
            lists:foreach(fun({I, Victim}) ->
                                  timer:sleep(40),
                                  _ = kill(Victim),
                                  ok = file:write_file(Path, events(<<"k", (integer_to_binary(I))/binary>>, 1, 1000), [append])
                          end, lists:enumerate([shard, collector, shard, shard, collector])),
            retry(fun tally_pipeline:sync/0),
            ?assertEqual({25000, 0}, applied())
        after stop() end
    end).

kill(shard) -> exit(whereis(tally_shard:name(1)), kill);
kill(collector) -> [exit(Pid, kill) || {_, Pid} <- 'tally@app@collectors_supervisor':collectors()].

retry(Fun) -> retry(Fun, 50).
retry(Fun, 0) -> Fun();
retry(Fun, N) ->
    try Fun() catch exit:_ -> timer:sleep(100), retry(Fun, N - 1) end.

%%% #16.7: a half-written last line waits until the file is complete.

a_half_written_line_waits_for_its_newline_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "storage.csv"),
        ok = file:write_file(Path, <<"timestamp,customer,bucket,bytes\n2026-10-01T00:00:00Z,alice,b1,10\n"
                                     "2026-10-01T01:00:00Z,alice,b1,123">>),
        start(env(Dir, [#{name => <<"st">>, format => storage_csv, path => Path}])),
        try
            ok = tally_pipeline:sync(),
            timer:sleep(300),  % many polls: the line is not taken however long the file rests
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 2, events := 1}, stats(<<"st">>)),
            ok = file:write_file(Path, <<"4567\n">>, [append]),
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 3, events := 2, rejected := 0}, stats(<<"st">>)),
            ?assertEqual(lists:sort([10, 1234567]), gauge_values())
        after stop() end
    end).

%% The latest value of every window (one sample per hourly window here).
gauge_values() ->
    #{shards := N} = tally_config:get(),
    lists:sort([element(10, W) || I <- lists:seq(0, N - 1), {ok, Ws} <- [tally_shard:windows(tally_shard:name(I))],
                                  W <- Ws]).

%% At close, the files are complete: a last line without newline is taken.
the_close_takes_a_last_line_without_newline_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, [events(<<"a">>, 1, 10), event(<<"z">>, <<"zed">>)]),
        start(env(Dir, [jsonl_source(Path)])),
        try
            ok = tally_pipeline:sync(),
            ?assertMatch(#{records := 10}, stats(<<"edge">>)),
            {ok, _} = tally_pipeline:close_period(<<"2026-10">>),
            ?assertMatch(#{records := 11, events := 11}, stats(<<"edge">>))
        after stop() end
    end).

%%% #16.9: late events written once, whatever crashes.

late_events_are_written_once_after_a_shard_crash_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 10)),
        start(env(Dir, [jsonl_source(Path)], [{shards, 1}])),
        try
            ok = tally_pipeline:sync(),
            {ok, _} = tally_pipeline:close_period(<<"2026-10">>),
            %% Five events of the closed month arrive; the shard dies before its next snapshot.
            Late = << <<(event(<<"late", (integer_to_binary(I))/binary>>, <<"c1">>))/binary, "\n">> || I <- lists:seq(1, 5) >>,
            ok = file:write_file(Path, Late, [append]),
            ok = tally_pipeline:sync(),
            LatePath = filename:join([Dir, "data", "shards", "late-0.jsonl"]),
            ?assertEqual(5, lines(LatePath)),
            Old = whereis(tally_shard:name(0)),
            exit(Old, kill),
            ok = restarted(Old),
            retry(fun tally_pipeline:sync/0),
            ?assertEqual(5, lines(LatePath)),
            ?assertMatch(#{late := 5}, hd(maps:get(shards, tally_pipeline:status())))
        after stop() end
    end).

%% Waits until the shard that was Old and the collectors after it run again.
restarted(Old) -> restarted(Old, 200).
restarted(_Old, 0) -> {error, not_restarted};
restarted(Old, N) ->
    Shard = whereis(tally_shard:name(0)),
    case is_pid(Shard) andalso Shard =/= Old andalso is_pid(whereis(tally_collectors_sup))
         andalso catch 'tally@app@collectors_supervisor':collectors() =/= [] of
        true -> ok;
        _ -> timer:sleep(20), restarted(Old, N - 1)
    end.

lines(Path) ->
    {ok, Bin} = file:read_file(Path),
    length(binary:split(Bin, <<"\n">>, [global, trim_all])).

%%% #16.13: no file content crashes a collector; one bad source disturbs no other.

bad_files_do_not_crash_collectors_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Rgw = filename:join(Dir, "rgw"),
        ok = filelib:ensure_dir(filename:join(Rgw, "x")),
        ok = file:write_file(filename:join(Rgw, "blank.json"), <<"\n\n\n  \n">>),
        ok = file:write_file(filename:join(Rgw, "empty.json"), <<>>),
        ok = file:write_file(filename:join(Rgw, "open.json"), <<"{\"entries\": [">>),
        ok = file:write_file(filename:join(Rgw, "garbage.json"), <<0, 255, 1, "}">>),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 50)),
        start(env(Dir, [jsonl_source(Path), #{name => <<"ceph">>, format => rgw_usage, path => Rgw}])),
        try
            Before = 'tally@app@collectors_supervisor':collectors(),
            timer:sleep(1000),  % fifty polls
            ok = tally_pipeline:sync(),
            ?assertEqual(Before, 'tally@app@collectors_supervisor':collectors()),
            ?assertMatch(#{records := 50, events := 50}, stats(<<"edge">>)),
            {ok, _} = tally_pipeline:close_period(<<"2026-10">>),
            ?assertEqual(Before, 'tally@app@collectors_supervisor':collectors()),
            Ceph = [R || #{<<"source">> := <<"ceph">>} = R <- rejects(Dir)],
            ?assert(length(Ceph) >= 2)  % the open document and the garbage
        after stop() end
    end).

%%% tally_source_pos: the rules alone.

decide_test() ->
    P = fun(Gen, Offset) -> (tally_source_pos:start(Gen))#{offset := Offset} end,
    ?assertEqual(apply, tally_source_pos:decide(none, {0, 0}, P(0, 10))),
    ?assertEqual(apply, tally_source_pos:decide(P(0, 10), {0, 10}, P(0, 20))),
    ?assertEqual(skip, tally_source_pos:decide(P(0, 20), {0, 10}, P(0, 20))),
    ?assertEqual(skip, tally_source_pos:decide(P(0, 20), {0, 0}, P(0, 10))),
    ?assertMatch({error, _}, tally_source_pos:decide(P(0, 20), {0, 10}, P(0, 30))),
    ?assertEqual(apply, tally_source_pos:decide(P(0, 20), {1, 0}, P(1, 5))),
    ?assertEqual(skip, tally_source_pos:decide(P(2, 0), {1, 0}, P(1, 5))).

resume_test() ->
    P = fun(Gen, Offset) -> (tally_source_pos:start(Gen))#{offset := Offset} end,
    Yes = fun(_) -> true end,
    %% The lowest position, and a cut wherever another shard stopped.
    ?assertMatch({#{gen := 0, offset := 10}, [30]}, tally_source_pos:resume([P(0, 30), P(0, 10), P(0, 30)], Yes)),
    %% A shard without a record starts from the beginning.
    ?assertMatch({#{offset := 0}, [10, 30]}, tally_source_pos:resume([P(0, 30), none, P(0, 10)], Yes)),
    %% An older generation counts as nothing of the newest.
    ?assertMatch({#{gen := 1, offset := 0}, [7]}, tally_source_pos:resume([P(1, 7), P(0, 90)], Yes)),
    %% A changed fingerprint: a new generation from the start.
    ?assertMatch({#{gen := 2, offset := 0}, []}, tally_source_pos:resume([P(1, 7)], fun(_) -> false end)).

%%% #15.4: snapshots by work done, written by the engine; #16.10 on the ingest side.

%% Snapshots come every snapshot_bytes of input applied (not one per
%% chunk), and each writes what changed: the bytes written stay within
%% twice what the shards' snapshot files hold at the end.
snapshots_follow_the_work_done_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        Input = events(<<"a">>, 1, 1000),
        ok = file:write_file(Path, Input),  % about 190 KB
        start(env(Dir, [jsonl_source(Path, 4096)], [{snapshot_bytes, 20000}])),
        try
            ok = tally_pipeline:sync(),
            Shards = maps:get(shards, tally_pipeline:status()),
            Counts = [S || #{snapshots := S} <- Shards],
            %% Every shard is sent every chunk (most with events for it):
            %% one save per 20 KB or so of the input, whose chunks are 4 KB.
            Due = byte_size(Input) div 20480,
            ?assert(lists:all(fun(C) -> C >= Due - 1 andalso C =< Due + 1 end, Counts)),
            Written = lists:sum([W || #{snapshot_bytes := W} <- Shards]),
            Files = lists:sum([filelib:file_size(F) || F <- filelib:wildcard(filename:join([Dir, "data", "shards", "shard-*.snapshot*"]))]),
            ?assert(Written =< 2 * Files)
        after stop() end
    end).

%% A damaged snapshot is moved aside and its shard rebuilt from the sources;
%% the other shards skip by position what they hold: totals stay exact.
a_damaged_snapshot_is_rebuilt_from_the_sources_test_() ->
    run(fun() ->
        Dir = tmp_dir(),
        Path = filename:join(Dir, "in.jsonl"),
        ok = file:write_file(Path, events(<<"a">>, 1, 3000)),
        Env = env(Dir, [jsonl_source(Path, 65536)]),
        start(Env),
        try ok = tally_pipeline:sync() after stop() end,
        Snapshot = filename:join([Dir, "data", "shards", "shard-1.snapshot"]),
        {ok, Bin} = file:read_file(Snapshot),
        At = byte_size(Bin) div 2,
        <<Head:At/binary, Byte, Tail/binary>> = Bin,
        ok = file:write_file(Snapshot, <<Head/binary, (Byte bxor 16), Tail/binary>>),
        ok = file:write_file(Path, events(<<"b">>, 1, 500), [append]),
        start(Env),
        try
            ok = tally_pipeline:sync(),
            ?assert(filelib:is_regular(Snapshot ++ ".bad")),
            ?assertEqual({3500, 0}, applied())
        after stop() end
    end).

%%% #15.5: deduplication by event id is a per-source option, carried by the
%%% source's batches: the same lines (each id twice) count once from a
%%% source with dedup on (JSON Lines' default) and twice from one with it off.

dedup_is_an_option_per_source_test_() -> run(fun dedup_per_source/0).

dedup_per_source() ->
    Dir = tmp_dir(),
    Once = events(<<"e">>, 1, 50),
    Bytes = <<Once/binary, Once/binary>>,
    On = filename:join(Dir, "on.jsonl"),
    Off = filename:join(Dir, "off.jsonl"),
    ok = file:write_file(On, Bytes),
    ok = file:write_file(Off, Bytes),
    start(env(Dir, [jsonl_source(On), #{name => <<"retrying">>, format => json_lines, path => Off,
                                        dedup => false}])),
    try
        ok = tally_pipeline:sync(),
        ?assertEqual({50 + 100, 50}, applied())
    after stop() end,
    %% The defaults: on for JSON Lines and RGW usage, off for S3 access logs
    %% and storage CSV; the application's dedup, when set, for every source
    %% that names none.
    Sources = [#{name => atom_to_binary(F), format => F, path => "x"}
               || F <- [json_lines, rgw_usage, s3_access_log, storage_csv]],
    Dedup = fun(Env) ->
                    [application:set_env(tally, K, V) || {K, V} <- Env],
                    try [D || #{dedup := D} <- maps:get(sources, tally_config:get())]
                    after [application:unset_env(tally, K) || {K, _} <- Env]
                    end
            end,
    ?assertEqual([true, true, false, false], Dedup([{sources, Sources}])),
    ?assertEqual([false, false, false, false], Dedup([{sources, Sources}, {dedup, false}])),
    ?assertEqual([true, true, true, false],
                 Dedup([{sources, [S#{dedup => true} || S <- lists:sublist(Sources, 3)] ++ [lists:last(Sources)]}])).
