%% End to end: the application's pipeline over copies of the bundled
%% sample (all four formats), billed for 2026-10 and published to a real
%% nats-server with JetStream on loopback, read back with a consumer. Every
%% run, faults or not, must publish exactly the invoice lines of a clean
%% run to the file sink: nothing lost, nothing twice.
-module(tally_pipeline_tests).
-include_lib("eunit/include/eunit.hrl").

-export([child_close/0, bill/0, reference/0]).

-define(PERIOD, <<"2026-10">>).
-define(STREAM, <<"INVOICES">>).


tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-e2e-XXXXXX")).

repo_file(Rel) ->
    %% The tests run from the repository root (scripts/run_tests.sh).
    filename:absname(Rel).

%% Sample inputs copied to Dir/in, so tests can append to them.
inputs(Dir) ->
    In = filename:join(Dir, "in"),
    ok = filelib:ensure_dir(filename:join([In, "rgw", "x"])),
    _ = [{ok, _} = file:copy(repo_file(filename:join("sample", F)), filename:join(In, F))
     || F <- ["events.jsonl", "s3_access.log", "storage.csv", "rgw/usage-2026-10.json"]],
    In.

sources(In, Chunk) ->
    [#{name => <<"edge">>, format => json_lines, path => filename:join(In, "events.jsonl"), chunk_bytes => Chunk},
     #{name => <<"s3">>, format => s3_access_log, path => filename:join(In, "s3_access.log"), chunk_bytes => Chunk},
     #{name => <<"ceph">>, format => rgw_usage, path => filename:join(In, "rgw")},
     #{name => <<"storage">>, format => storage_csv, path => filename:join(In, "storage.csv"), chunk_bytes => Chunk}].

env(Dir, Bus, Chunk) ->
    [{data_dir, filename:join(Dir, "data")}, {backend, nif}, {shards, 3}, {snapshot_ms, 50}, {poll_ms, 20},
     {sources, sources(inputs_once(Dir), Chunk)}, {plans, repo_file("sample/plans.json")},
     {subject, <<"tally.invoices">>}, {bus, Bus}].

inputs_once(Dir) ->
    In = filename:join(Dir, "in"),
    case filelib:is_dir(In) of true -> In; false -> inputs(Dir) end.

start(Env) ->
    [application:set_env(tally, K, V) || {K, V} <- Env],
    {ok, _} = application:ensure_all_started(tally),
    ok.

stop() ->
    _ = application:stop(tally),
    [application:unset_env(tally, K) || {K, _} <- application:get_all_env(tally)],
    ok.

bus(Server) ->
    #{host => "127.0.0.1", port => tally_nats_server:port(Server), auth => none, ping_interval => 200,
      stream => ?STREAM, subjects => [<<"tally.invoices">>], create_stream => true}.

%% Reads all sources, closes the period, waits for the sink. Retries what a
%% killed process interrupted.
bill() ->
    retry(fun tally_pipeline:sync/0),
    {ok, Summary} = retry(fun() -> tally_pipeline:close_period(?PERIOD) end),
    ok = tally_pipeline:drain(60000),
    Summary.

retry(Fun) -> retry(Fun, 50).
retry(Fun, 0) -> Fun();
retry(Fun, N) ->
    try Fun() of
        {error, _} -> timer:sleep(100), retry(Fun, N - 1);
        Result -> Result
    catch exit:_ -> timer:sleep(100), retry(Fun, N - 1)
    end.

%% The invoice lines of a clean run to the file sink, sorted.
reference() ->
    case persistent_term:get({?MODULE, reference}, none) of
        none ->
            Dir = tmp_dir(),
            start(env(Dir, none, 1048576)),
            try bill() after stop() end,
            Lines = file_sink_lines(Dir),
            persistent_term:put({?MODULE, reference}, Lines),
            persistent_term:put({?MODULE, reference_dir}, Dir),
            Lines;
        Lines ->
            Lines
    end.

%% The invoice lines a run wrote to the file sink under Dir, sorted.
file_sink_lines(Dir) ->
    {ok, Bin} = file:read_file(filename:join([Dir, "data", "invoices.jsonl"])),
    lists:sort(binary:split(Bin, <<"\n">>, [global, trim_all])).

stream_lines(Server, Want) ->
    C = tally_nats_server:client(#{port => tally_nats_server:port(Server)}),
    timer:sleep(200),
    Read = tally_nats_server:read_stream(C, ?STREAM, Want),
    'tally@app@nats':stop(C),
    lists:sort([P || {_, P} <- Read]).

clean_run_to_the_file_sink_matches_the_command_line_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun clean_run_matches_cli/0) end}.

%% The reference itself is checked against `tally bill` over the same
%% inputs: the very same bytes, line for line (one written form).
clean_run_matches_cli() ->
    Lines = reference(),
    ?assertEqual(17, length(Lines)),
    Cli = os:cmd(cli() ++ " bill --plans sample/plans.json --period 2026-10 "
                 "sample/events.jsonl s3_access_log:sample/s3_access.log rgw_usage:sample/rgw/usage-2026-10.json "
                 "sample/storage.csv 2>/dev/null"),
    ?assertEqual(lists:sort([list_to_binary(L) || L <- string:split(Cli, "\n", all), L =/= ""]), Lines).

rejects_in_the_release_and_the_command_line_are_the_same_objects_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun same_rejects/0) end}.

%% The release's rejects.jsonl and `tally parse --rejects` over the same
%% files hold the same objects (one written form), but for `source`: the
%% configured source's name in the release, the input's name on the command line.
same_rejects() ->
    _ = reference(),
    Dir = persistent_term:get({?MODULE, reference_dir}),
    In = filename:join(Dir, "in"),
    Out = filename:join(Dir, "cli-rejects.jsonl"),
    Inputs = [filename:join(In, "events.jsonl"), "s3_access_log:" ++ filename:join(In, "s3_access.log"),
              "rgw_usage:" ++ filename:join([In, "rgw", "usage-2026-10.json"]), filename:join(In, "storage.csv")],
    _ = os:cmd(cli() ++ " parse --rejects " ++ Out ++ " " ++ lists:join(" ", Inputs) ++ " >/dev/null 2>&1"),
    Read = fun(F) ->
                   {ok, Bin} = file:read_file(F),
                   [begin {ok, M} = tally_json:decode(L), M end
                    || L <- binary:split(Bin, <<"\n">>, [global, trim_all])]
           end,
    Release = Read(filename:join([Dir, "data", "rejects.jsonl"])),
    Cli = Read(Out),
    ?assertEqual(4, length(Release)),
    Sources = #{<<"events.jsonl">> => <<"edge">>, <<"s3_access.log">> => <<"s3">>,
                <<"storage.csv">> => <<"storage">>, <<"usage-2026-10.json">> => <<"ceph">>},
    [?assertEqual(maps:get(filename:basename(F), Sources), S) || #{<<"file">> := F, <<"source">> := S} <- Release],
    [?assertEqual(F, S) || #{<<"file">> := F, <<"source">> := S} <- Cli],
    NoSource = fun(Ms) -> lists:sort([maps:remove(<<"source">>, M) || M <- Ms]) end,
    ?assertEqual(NoSource(Cli), NoSource(Release)).

a_full_disk_during_close_is_an_error_for_the_caller_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun full_disk_close/0) end}.

%% /dev/full answers every write with ENOSPC: a link to it where the close
%% writes stands for a full data disk. The close returns the error (the
%% closer lives on), and a close once there is room bills exactly.
full_disk_close() ->
    Want = reference(),
    Dir = tmp_dir(),
    Data = filename:join(Dir, "data"),
    start(env(Dir, none, 1048576)),
    try
        ok = tally_pipeline:sync(),
        Closer = whereis(tally_closer),
        %% The outbox's first batch (a shard's lines, up to 17) cannot be written.
        %% (A failed write removes its temporary file: the link is made again each time.)
        Full = fun(Path) -> _ = file:delete(Path), ok = file:make_symlink("/dev/full", Path) end,
        OutboxTmps = [filename:join([Data, "outbox", "0000000000000000-" ++ integer_to_list(N) ++ ".batch.tmp"])
                      || N <- lists:seq(1, 17)],
        lists:foreach(Full, OutboxTmps),
        ?assertMatch({error, {outbox, {outbox_io, <<"write">>, _, <<"enospc">>}}}, tally_pipeline:close_period(?PERIOD)),
        lists:foreach(Full, OutboxTmps),
        {error, {pipeline_failed, Text}} = 'tally@pipeline':close_period(?PERIOD),
        ?assertNotEqual(nomatch, binary:match(Text, <<"enospc">>)),
        lists:foreach(fun file:delete/1, OutboxTmps),
        %% The lines are in the outbox, but the record of the closed period cannot be written.
        ClosedTmp = filename:join(Data, "closed.term.tmp"),
        Full(ClosedTmp),
        ?assertMatch({error, {closed_record, _, <<"enospc">>}}, tally_pipeline:close_period(?PERIOD)),
        ?assertEqual([], closed()),
        ?assertEqual(Closer, whereis(tally_closer)),
        _ = file:delete(ClosedTmp),
        {ok, #{lines := 17}} = tally_pipeline:close_period(?PERIOD),
        ?assertEqual([?PERIOD], closed()),
        ok = tally_pipeline:drain(60000),
        ?assertEqual(Want, file_sink_lines(Dir))
    after
        stop()
    end.

%% The command line as cargo built it (CARGO_TARGET_DIR honoured).
cli() ->
    Dir = string:trim(os:cmd(repo_file("scripts/cargo_target_dir.sh"))),
    filename:join([Dir, "release", "tally"]).

%% The whole pipeline with the engine out of process, and on the pure Gleam
%% engine (shards snapshot its exports and bill with it): the same invoice
%% lines as on the NIF.
the_port_backend_bills_the_same_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun() -> bills_the_same(port) end) end}.

the_gleam_backend_bills_the_same_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun() -> bills_the_same(gleam) end) end}.

bills_the_same(Backend) ->
    Want = reference(),
    Dir = tmp_dir(),
    start(lists:keystore(backend, 1, env(Dir, none, 65536), {backend, Backend})),
    try ?assertMatch(#{lines := 17}, bill()) after stop() end,
    ?assertEqual(Want, file_sink_lines(Dir)).

every_line_reaches_the_stream_exactly_once_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun exactly_once/0) end}.

exactly_once() ->
    Want = reference(),
    S = tally_nats_server:start(#{}),
    Dir = tmp_dir(),
    try
        start(env(Dir, bus(S), 1048576)),
        try
            #{lines := 17} = bill(),
            %% Closing again: the outbox skips the keys already acknowledged.
            ?assertMatch(#{lines := 17}, bill())
        after stop() end,
        ?assertEqual(Want, stream_lines(S, length(Want))),
        %% Malformed lines are in the rejects file with where and why.
        {ok, Rejects} = file:read_file(filename:join([Dir, "data", "rejects.jsonl"])),
        Kept = [R || L <- binary:split(Rejects, <<"\n">>, [global, trim_all]), {ok, R} <- [tally_json:decode(L)]],
        ?assertEqual([{<<"edge">>, 501}, {<<"edge">>, 901}, {<<"s3">>, 301}, {<<"storage">>, 11}],
                     lists:sort([{maps:get(<<"source">>, R), maps:get(<<"line">>, R)} || R <- Kept]))
    after
        tally_nats_server:stop(S)
    end.

closing_again_past_the_duplicate_window_publishes_nothing_twice_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun closing_again_past_the_window/0) end}.

%% A stream whose duplicate window is 300 ms: the period is closed, closed
%% again a second later, and again after a restart of the application;
%% the stream holds each line once (the outbox remembers acknowledged keys).
closing_again_past_the_window() ->
    Want = reference(),
    S = tally_nats_server:start(#{}),
    Dir = tmp_dir(),
    try
        C = tally_nats_server:client(#{port => tally_nats_server:port(S)}),
        ok = tally_nats_server:wait_connected(C, 5000),
        {ok, nil} = 'tally@app@nats':create_stream(C, ?STREAM, [<<"tally.invoices">>], 300),
        'tally@app@nats':stop(C),
        Env = env(Dir, (bus(S))#{create_stream => false}, 1048576),
        start(Env),
        try
            #{lines := 17} = bill(),
            timer:sleep(1000),
            ?assertMatch(#{lines := 17}, bill())
        after stop() end,
        timer:sleep(1000),
        start(Env),
        try ?assertMatch(#{lines := 17}, bill()) after stop() end,
        ?assertEqual(Want, stream_lines(S, length(Want)))
    after
        tally_nats_server:stop(S)
    end.

sync_survives_collector_restarts_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun sync_over_restarts/0) end}.

%% Collectors killed while a sync runs (the job's first step): the sync
%% asks the restarted collectors again and ends, and the bill is exact.
sync_over_restarts() ->
    Want = reference(),
    Dir = tmp_dir(),
    start(env(Dir, none, 4096)),
    try
        Killer = spawn(fun() -> [begin timer:sleep(15), kill(collector) end || _ <- lists:seq(1, 3)] end),
        ?assertEqual(ok, tally_pipeline:sync()),
        exit(Killer, kill),
        ?assertMatch(#{lines := 17}, bill())
    after stop() end,
    ?assertEqual(Want, file_sink_lines(Dir)).

bus_down_while_publishing_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun bus_down/0) end}.

bus_down() ->
    Want = reference(),
    S = tally_nats_server:start(#{}),
    Dir = tmp_dir(),
    start(env(Dir, bus(S), 1048576)),
    try
        retry(fun tally_pipeline:sync/0),
        S1 = tally_nats_server:stop(S),
        {ok, #{lines := 17}} = tally_pipeline:close_period(?PERIOD),
        timer:sleep(1000),
        %% Nothing could be published, nothing was lost.
        ?assertEqual(17, 'tally@app@outbox':size('tally@app@outbox':registered())),
        S2 = tally_nats_server:restart(S1),
        try
            ok = tally_pipeline:drain(60000),
            ?assertEqual(Want, stream_lines(S2, length(Want)))
        after tally_nats_server:stop(S2) end
    after stop() end.

killed_processes_mid_run_test_() ->
    {timeout, 300, fun() -> tally_test_support:quiet(fun killed_processes/0) end}.

%% A collector, a shard and the publisher, each killed while the sources
%% are being read in small chunks (and the publisher while publishing).
killed_processes() ->
    Want = reference(),
    S = tally_nats_server:start(#{}),
    try
        lists:foreach(
            fun(Victim) ->
                Dir = tmp_dir(),
                start(env(Dir, bus(S), 4096)),
                try
                    timer:sleep(30),
                    _ = kill(Victim),
                    timer:sleep(30),
                    _ = kill(Victim),
                    retry(fun tally_pipeline:sync/0),
                    {ok, #{lines := 17}} = retry(fun() -> tally_pipeline:close_period(?PERIOD) end),
                    _ = kill(Victim),
                    ok = retry(fun() -> tally_pipeline:drain(60000) end)
                after stop() end
            end, [collector, shard, publisher]),
        %% Three runs, each publishing every key: the stream holds each once.
        ?assertEqual(Want, stream_lines(S, length(Want)))
    after
        tally_nats_server:stop(S)
    end.

killed_outbox_and_closer_test_() ->
    {timeout, 300, fun() -> tally_test_support:quiet(fun killed_outbox_and_closer/0) end}.

%% The outbox and the closer, each killed before and right after a close,
%% into the file sink: every invoice line reaches invoices.jsonl once, and
%% nothing waits (a restarted outbox must still wake the publisher).
killed_outbox_and_closer() ->
    Want = reference(),
    lists:foreach(
        fun(Victim) ->
            Dir = tmp_dir(),
            start(env(Dir, none, 4096)),
            try
                timer:sleep(30),
                _ = kill(Victim),
                retry(fun tally_pipeline:sync/0),
                {ok, #{lines := 17}} = retry(fun() -> tally_pipeline:close_period(?PERIOD) end),
                _ = kill(Victim),
                ?assertEqual(ok, retry(fun() -> tally_pipeline:drain(5000) end, 3))
            after stop() end,
            ?assertEqual({Victim, Want}, {Victim, file_sink_lines(Dir)})
        end, [outbox, closer]).

kill(collector) ->
    [exit(Pid, kill) || {<<"edge">>, Pid} <- 'tally@app@collectors_supervisor':collectors()];
kill(shard) ->
    exit(whereis(tally_shard_1), kill);
kill(publisher) ->
    exit(whereis(tally_publisher), kill);
kill(outbox) ->
    exit(whereis(tally_outbox), kill);
kill(closer) ->
    exit(whereis(tally_closer), kill).

vm_killed_and_restarted_mid_run_test_() ->
    {timeout, 300, fun() -> tally_test_support:quiet(fun vm_restarts/0) end}.

%% Three VMs on one data directory: the first is killed (SIGKILL) while
%% reading the sources; the second, with the bus down, closes the period
%% (the lines wait in the outbox) and is killed; the third, with the bus
%% back, publishes what the outbox holds and closes again.
vm_restarts() ->
    Want = reference(),
    S = tally_nats_server:start(#{}),
    Dir = tmp_dir(),
    EnvFile = filename:join(Dir, "env.term"),
    ok = file:write_file(EnvFile, io_lib:format("~p.~n", [env(Dir, bus(S), 4096)])),
    S1 = tally_nats_server:stop(S),
    {killed, _} = child_vm(EnvFile, "timer:sleep(infinity)", 300),
    {killed, Out} = child_vm(EnvFile, "tally_pipeline_tests:child_close()", closed),
    ?assertMatch("closed 17" ++ _, Out),
    ?assert(length(filelib:wildcard("*.batch", filename:join([Dir, "data", "outbox"]))) > 0),
    S2 = tally_nats_server:restart(S1),
    try
        {exited, 0, _} = child_vm(EnvFile, "tally_pipeline_tests:bill(), halt(0)", wait),
        ?assertEqual(Want, stream_lines(S2, length(Want)))
    after
        tally_nats_server:stop(S2)
    end.

%% In the second VM: close, say so, and wait to be killed.
child_close() ->
    retry(fun tally_pipeline:sync/0),
    {ok, #{lines := N}} = tally_pipeline:close_period(?PERIOD),
    io:format("closed ~b~n", [N]),
    timer:sleep(infinity).

%% Runs Expr in a fresh VM with the pipeline started from EnvFile; kills it
%% after KillAfter ms, or once it prints a line starting with `closed`, or
%% waits for it to exit.
child_vm(EnvFile, Expr, KillAfter) ->
    Paths = [filename:dirname(code:which(M)) || M <- [tally_pipeline, ?MODULE]],
    Eval = "{ok, [Env]} = file:consult(\"" ++ EnvFile ++ "\"), application:load(tally), "
           "[application:set_env(tally, K, V) || {K, V} <- Env], "
           "logger:set_primary_config(level, error), "
           "{ok, _} = application:ensure_all_started(tally), io:format(\"started~n\"), " ++ Expr ++ ".",
    Args = lists:append([["-pa", P] || P <- Paths]) ++ ["-noshell", "-eval", Eval],
    Vm = open_port({spawn_executable, os:find_executable("erl")},
                   [{args, Args}, {line, 1000}, exit_status, stderr_to_stdout]),
    {os_pid, OsPid} = erlang:port_info(Vm, os_pid),
    await_child(Vm, OsPid, KillAfter, "").

await_child(Vm, OsPid, KillAfter, Out) ->
    receive
        {Vm, {data, {eol, "closed" ++ _ = Line}}} when KillAfter =:= closed ->
            _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            receive {Vm, {exit_status, _}} -> {killed, Line} end;
        {Vm, {data, {eol, "started"}}} when is_integer(KillAfter) ->
            timer:sleep(KillAfter),
            _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            receive {Vm, {exit_status, _}} -> {killed, Out} end;
        {Vm, {data, {_, Line}}} ->
            await_child(Vm, OsPid, KillAfter, Out ++ Line ++ "\n");
        {Vm, {exit_status, Status}} ->
            {exited, Status, Out}
    after 60000 ->
        _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
        {timeout, Out}
    end.

appended_data_and_new_files_are_picked_up_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun appended/0) end}.

appended() ->
    Dir = tmp_dir(),
    start(env(Dir, none, 1048576)),
    try
        ok = tally_pipeline:sync(),
        #{collectors := #{<<"edge">> := #{records := R0, events := E0}, <<"ceph">> := #{events := C0}}} =
            tally_pipeline:status(),
        In = filename:join(Dir, "in"),
        %% Two more events, the second line arriving in two writes.
        Line = fun(Id) -> <<"{\"id\":\"", Id/binary, "\",\"source\":\"/edge/fra1\",\"subject\":\"acme\","
                            "\"time\":\"2026-10-30T00:00:00Z\",\"data\":{\"resource\":\"cdn-acme\","
                            "\"meter\":\"requests\",\"value\":5}}\n">> end,
        ok = file:write_file(filename:join(In, "events.jsonl"), Line(<<"late-1">>), [append]),
        <<Head:40/binary, Tail/binary>> = Line(<<"late-2">>),
        ok = file:write_file(filename:join(In, "events.jsonl"), Head, [append]),
        ok = tally_pipeline:sync(),
        ok = file:write_file(filename:join(In, "events.jsonl"), Tail, [append]),
        {ok, _} = file:copy(filename:join([In, "rgw", "usage-2026-10.json"]), filename:join([In, "rgw", "usage-copy.json"])),
        ok = tally_pipeline:sync(),
        #{collectors := #{<<"edge">> := #{records := R1, events := E1}, <<"ceph">> := #{events := C1}}} =
            tally_pipeline:status(),
        ?assertEqual({R0 + 2, E0 + 2}, {R1, E1}),
        %% The copied RGW file was read (its events are duplicates of the first, by id).
        ?assertEqual(2 * C0, C1),
        [#{duplicates := D0}, #{duplicates := D1}, #{duplicates := D2}] = maps:get(shards, tally_pipeline:status()),
        ?assertEqual(C0 + 1, D0 + D1 + D2)  % the copy's events, and the sample's one replayed event
    after stop() end.

%% A source whose path holds nothing (a typo, a file not there yet) is said
%% in the counts (and the log), not read as an empty source; once its file
%% appears, it is read.
a_source_with_nothing_at_its_path_is_said_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun missing_path/0) end}.

missing_path() ->
    Dir = tmp_dir(),
    In = inputs_once(Dir),
    Typo = filename:join(In, "edge-typo.jsonl"),
    Env = env(Dir, none, 1048576),
    Sources = proplists:get_value(sources, Env) ++ [#{name => <<"typo">>, format => json_lines, path => Typo}],
    start(lists:keystore(sources, 1, Env, {sources, Sources})),
    try
        ok = tally_pipeline:sync(),
        #{collectors := #{<<"typo">> := #{missing := true, records := 0}, <<"edge">> := #{missing := false}}} =
            tally_pipeline:status(),
        {ok, Line} = file:read_file(filename:join(In, "events.jsonl")),
        ok = file:write_file(Typo, Line),
        ok = tally_pipeline:sync(),
        #{collectors := #{<<"typo">> := #{missing := false, records := R}}} = tally_pipeline:status(),
        ?assert(R > 0)
    after stop() end.

closes_on_schedule_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun on_schedule/0) end}.

%% With no grace, the month before now is due at once and is closed by the
%% schedule alone: every plan customer gets lines for it (zero usage or not).
on_schedule() ->
    Due = 'tally@app@close_plan':due_period(erlang:system_time(millisecond), 0),
    Dir = tmp_dir(),
    start(env(Dir, none, 1048576) ++ [{close, #{grace_ms => 0, check_ms => 1000}}]),
    try
        ok = tally_pipeline:sync(),
        ok = wait_closed(Due, 100),
        ok = tally_pipeline:drain(10000),
        Keys = [K || L <- file_sink_lines(Dir), {ok, #{<<"key">> := K}} <- [tally_json:decode(L)]],
        ?assert(length(Keys) > 0),
        Suffix = <<"/", Due/binary>>,
        ?assert(lists:all(fun(K) -> binary:longest_common_suffix([K, Suffix]) =:= byte_size(Suffix) end, Keys))
    after stop() end.

closed() -> 'tally@app@closer':closed('tally@app@closer':registered()).

wait_closed(_Period, 0) -> {error, not_closed};
wait_closed(Period, N) ->
    case lists:member(Period, closed()) of
        true -> ok;
        false -> timer:sleep(50), wait_closed(Period, N - 1)
    end.

a_truncated_file_is_read_again_from_the_start_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun truncated/0) end}.

truncated() ->
    Dir = tmp_dir(),
    start(env(Dir, none, 1048576)),
    try
        ok = tally_pipeline:sync(),
        #{collectors := #{<<"s3">> := #{records := R0}}} = tally_pipeline:status(),
        %% Rotated by copy-and-truncate, then two new lines written.
        Log = filename:join([Dir, "in", "s3_access.log"]),
        {ok, Bin} = file:read_file(Log),
        [L1, L2 | _] = binary:split(Bin, <<"\n">>, [global]),
        ok = file:write_file(Log, <<L1/binary, "\n", L2/binary, "\n">>),
        ok = tally_pipeline:sync(),
        #{collectors := #{<<"s3">> := #{records := R1}}} = tally_pipeline:status(),
        ?assertEqual(R0 + 2, R1)
    after stop() end.
