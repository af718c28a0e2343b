%% The supervised port under faults: killed with SIGKILL mid-ingest it is
%% restarted and rebuilt, so the final aggregate equals a clean NIF run's
%% byte for byte; callers are bounded by the in-flight window; a reply over
%% the frame limit is refused; and the OS process never outlives the VM.
-module(tally_port_fault_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
-define(OPTIONS, {parser_options, 1048576, none, bucket_owner}).


%% N JSON Lines events over 50 customers and 3 days, with every 97th line a
%% replay of an earlier id and every 1000th line malformed.
events(N) ->
    iolist_to_binary([line(I) || I <- lists:seq(1, N)]).

line(I) when I rem 1000 =:= 0 ->
    <<"{\"id\": broken\n">>;
line(I) ->
    Id = case I rem 97 of 0 -> I - 50; _ -> I end,
    Customer = integer_to_binary(I rem 50),
    Time = 1790812800 + (I * 7919) rem (3 * 86400),
    {{Y, Mo, D}, {H, Mi, S}} = calendar:system_time_to_universal_time(Time, second),
    Stamp = io_lib:format("~4..0b-~2..0b-~2..0bT~2..0b:~2..0b:~2..0bZ", [Y, Mo, D, H, Mi, S]),
    iolist_to_binary(["{\"id\":\"e", integer_to_binary(Id), "\",\"source\":\"edge\",\"subject\":\"c", Customer,
                      "\",\"time\":\"", Stamp, "\",\"data\":{\"resource\":\"r", integer_to_binary(I rem 3),
                      "\",\"meter\":\"bandwidth_out_bytes\",\"value\":", integer_to_binary(I * 31 rem 100000), "}}\n"]).

%% Chunks of a size that cuts lines anywhere.
chunks(Bin, Size) when byte_size(Bin) =< Size -> [Bin];
chunks(Bin, Size) ->
    <<Chunk:Size/binary, Rest/binary>> = Bin,
    [Chunk | chunks(Rest, Size)].

nif_export(Chunks) ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, P} = tally_nif:parser_new(json_lines, ?OPTIONS),
    _ = [{ok, _} = tally_nif:aggregator_feed(A, P, C) || C <- Chunks],
    {ok, _} = tally_nif:aggregator_finish(A, P),
    {ok, Bytes} = tally_nif:aggregator_export(A),
    Bytes.

%% Sends a request again while the port answers that it died with it in flight.
retrying(Ref, Op, Args, Deaths) ->
    case tally_port:call(Ref, Op, Args) of
        {error, {port_exited, _}} -> retrying(Ref, Op, Args, Deaths + 1);
        {ok, Value} -> {Value, Deaths};
        %% A timeout was seen once: an owner that trapped exits ignored its port's
        %% 'EXIT' (epipe, no exit status) and kept waiting. Fixed; keep the details.
        Other -> error({unexpected, Op, Other, catch tally_port:stats(Ref)})
    end.

killed_mid_ingest_ends_with_exact_totals_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun killed_mid_ingest_ends_with_exact_totals/0) end}.

killed_mid_ingest_ends_with_exact_totals() ->
    Chunks = chunks(events(60000), 40000),
    Want = nif_export(Chunks),
    %% Small checkpoints, so kills land before, during and after them.
    {ok, Ref} = tally_port:start_supervised(#{timeout => 30000, checkpoint_ops => 25, checkpoint_ratio => 0}),
    try
        {ok, A} = tally_port:call(Ref, aggregator_new, {?CONFIG}),
        {ok, P} = tally_port:call(Ref, parser_new, {json_lines, ?OPTIONS}),
        Self = self(),
        Killer = spawn_link(fun() -> killer(Ref, Self, 0) end),
        %% Six kills spread over the ingest, each sent while the next
        %% requests are already on their way to the port.
        KillAt = [length(Chunks) * K div 7 || K <- lists:seq(1, 6)],
        {Rejected, Deaths, _} = lists:foldl(
            fun(C, {R, D, I}) ->
                _ = lists:member(I, KillAt) andalso (Killer ! kill),
                {{feed_result, _Stats, Rejects, _Counters}, D1} = retrying(Ref, aggregator_feed, {A, P, C}, D),
                {R + length(Rejects), D1, I + 1}
            end, {0, 0, 0}, Chunks),
        Killer ! stop,
        Kills = receive {kills, K} -> K after 30000 -> error(killer_hung) end,
        {{feed_result, _, LastRejects, _}, _} = retrying(Ref, aggregator_finish, {A, P}, 0),
        {Got, _} = retrying(Ref, aggregator_export, {A}, 0),
        ?assertEqual(60, Rejected + length(LastRejects)),
        ?assertEqual(length(KillAt), Kills),
        ?debugFmt("killed the port ~b times mid-ingest; ~b requests failed in flight and were re-sent",
                  [Kills, Deaths]),
        ?assertEqual(Want, Got)
    after
        tally_port:stop(Ref)
    end.

%% Kills the port's OS process on each `kill`, waiting each time for the
%% supervisor's new one; says how many on `stop` (after the kills before it).
killer(Ref, Parent, N) ->
    receive
        kill ->
            OsPid = tally_port:os_pid(Ref),
            _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            wait_new_os_pid(Ref, OsPid),
            killer(Ref, Parent, N + 1);
        stop ->
            Parent ! {kills, N}
    end.

wait_new_os_pid(Ref, Old) ->
    case catch tally_port:os_pid(Ref) of
        Old -> timer:sleep(5), wait_new_os_pid(Ref, Old);
        New when is_integer(New) -> ok;
        _ -> timer:sleep(5), wait_new_os_pid(Ref, Old)
    end.

%% Killed again while its successor is still rebuilding (replaying the
%% journal): the rebuild ends at once, whether the owner learns it from the
%% exit status or from a write that failed (epipe), and the next owner
%% rebuilds everything. Before the fix an owner that saw only epipe waited
%% out a 60 s replay timeout, and no new OS process came for 10 s.
killed_again_while_rebuilding_recovers_with_exact_totals_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun killed_again_while_rebuilding/0) end}.

killed_again_while_rebuilding() ->
    %% Chunks bigger than a pipe's buffer: a kill then often lands while the
    %% VM is still writing one, and the owner sees epipe, not an exit status.
    Chunks = chunks(events(40000), 300000),
    Want = nif_export(Chunks),
    %% No checkpoint: every rebuild replays the whole journal, which takes long
    %% enough for a kill to land inside it.
    {ok, Ref} = tally_port:start_supervised(#{checkpoint_ops => 1000000, checkpoint_bytes => 1 bsl 40}),
    try
        {ok, A} = tally_port:call(Ref, aggregator_new, {?CONFIG}),
        {ok, P} = tally_port:call(Ref, parser_new, {json_lines, ?OPTIONS}),
        _ = [{ok, _} = tally_port:call(Ref, aggregator_feed, {A, P, C}) || C <- Chunks],
        First = tally_port:os_pid(Ref),
        Killed = kill_rebuilds([First], 4),
        ?assertEqual(5, length(Killed)),
        {{feed_result, _, _, _}, _} = retrying(Ref, aggregator_finish, {A, P}, 0),
        ?assertMatch({ok, _}, tally_port:call(Ref, aggregator_export, {A}, 20000)),
        {ok, Got} = tally_port:call(Ref, aggregator_export, {A}, 20000),
        ?assertEqual(Want, Got)
    after
        tally_port:stop(Ref)
    end.

%% Kills the first OS process, then each new tally_port process as soon as
%% its owner opens it (it is rebuilding then), N times. Returns the pids killed.
kill_rebuilds([Current | _] = Killed, 0) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(Current)),
    lists:reverse(Killed);
kill_rebuilds([Current | _] = Killed, N) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(Current)),
    Next = new_port_os_pid(Killed, 10000),
    kill_rebuilds([Next | Killed], N - 1).

new_port_os_pid(_Old, 0) ->
    error(no_new_port);
new_port_os_pid(Old, Tries) ->
    Pids = [OsPid || Port <- erlang:ports(),
                     {name, Name} <- [erlang:port_info(Port, name)],
                     lists:suffix("tally_port", Name),
                     {os_pid, OsPid} <- [erlang:port_info(Port, os_pid)],
                     not lists:member(OsPid, Old)],
    case Pids of
        [New | _] -> New;
        [] -> timer:sleep(1), new_port_os_pid(Old, Tries - 1)
    end.

many_callers_wait_in_a_bounded_window_test() ->
    {ok, Ref} = tally_port:start_supervised(#{max_in_flight => 4}),
    try
        Chunk = events(2000),
        Want = tally_nif:parse_chunk(json_lines, ?OPTIONS, Chunk),
        Self = self(),
        Callers = [spawn_link(fun() -> Self ! {self(), tally_port:call(Ref, parse_chunk, {json_lines, ?OPTIONS, Chunk})} end)
                   || _ <- lists:seq(1, 40)],
        Replies = [receive {C, R} -> R after 30000 -> error(caller_hung) end || C <- Callers],
        ?assertEqual(lists:duplicate(40, Want), Replies),
        #{peak_in_flight := Peak} = tally_port:stats(Ref),
        ?assert(Peak =< 4),
        ?assert(Peak >= 2)
    after
        tally_port:stop(Ref)
    end.

a_slow_request_times_out_and_the_port_carries_on_test_() ->
    {timeout, 60, fun a_slow_request_times_out_and_the_port_carries_on/0}.

a_slow_request_times_out_and_the_port_carries_on() ->
    {ok, Ref} = tally_port:start_supervised(#{}),
    try
        Big = events(200000),
        ?assertEqual({error, timeout}, tally_port:call(Ref, parse_chunk, {json_lines, ?OPTIONS, Big}, 1)),
        ?assertEqual(tally_nif:meter_unit(<<"requests">>), tally_port:call(Ref, meter_unit, {<<"requests">>}))
    after
        tally_port:stop(Ref)
    end.

a_reply_over_the_frame_limit_is_refused_test() ->
    tally_test_support:quiet(fun() ->
        process_flag(trap_exit, true),
        {ok, Owner} = tally_port:start_link(#{max_frame => 200}),
        ?assertEqual({error, {bad_reply, <<"reply frame over the size limit">>}},
                     tally_port:call(Owner, parse_chunk, {json_lines, ?OPTIONS, events(10)})),
        receive {'EXIT', Owner, Reason} -> ?assertEqual({bad_reply, <<"reply frame over the size limit">>}, Reason)
        after 5000 -> ?assert(false)
        end
    end).

released_handles_are_gone_test() ->
    {ok, Ref} = tally_port:start_supervised(#{}),
    try
        {ok, A} = tally_port:call(Ref, aggregator_new, {?CONFIG}),
        ?assertMatch(#{handles := 1}, tally_port:stats(Ref)),
        ?assertEqual({ok, nil}, tally_port:call(Ref, release, {A})),
        ?assertEqual({error, {bad_argument, <<"a live handle">>}}, tally_port:call(Ref, aggregator_counters, {A})),
        ?assertMatch(#{handles := 0}, tally_port:stats(Ref))
    after
        tally_port:stop(Ref)
    end.

%% A VM killed with SIGKILL cannot close its ports: the port process must
%% notice the end of its standard input by itself.
port_dies_with_its_vm_test_() ->
    {timeout, 60, fun port_dies_with_its_vm/0}.

port_dies_with_its_vm() ->
    Ebin = filename:dirname(code:which(tally_port)),
    Erl = os:find_executable("erl"),
    Eval = "{ok, R} = tally_port:start_supervised(#{}), "
           "io:format(\"~b ~s~n\", [tally_port:os_pid(R), os:getpid()]), timer:sleep(infinity).",
    Vm = open_port({spawn_executable, Erl},
                   [{args, ["-noshell", "-pa", Ebin, "-eval", Eval]}, {line, 200}, exit_status, stderr_to_stdout]),
    {PortOsPid, VmOsPid} =
        receive {Vm, {data, {eol, Line}}} ->
                    [P, V] = string:tokens(Line, " "),
                    {list_to_integer(P), V}
        after 20000 -> error(no_pid_line)
        end,
    ?assert(tally_test_ffi:os_process_alive(PortOsPid)),
    _ = os:cmd("kill -9 " ++ VmOsPid),
    receive {Vm, {exit_status, _}} -> ok after 10000 -> error(vm_still_running) end,
    ?assert(tally_test_ffi:wait_until_gone(PortOsPid, 5000)).
