%% The soak run behind scripts/soak.sh: the big counts of the reliability
%% checks whose modest versions are in `make test`, with the figures
%% printed. Everything runs on loopback; every part is bounded by its count
%% and by SOAK_MAX_SECONDS (per part).
%%
%%   port      PORT_KILLS kill -9 of the engine port during an ingest:
%%             recovery time of each, journal replayed, VM memory, totals
%%             against a NIF run
%%   nats      NATS_RESTARTS restarts of a real nats-server while keys are
%%             published: reconnect times, stream holds each key once
%%   hostile   HOSTILE_ROUNDS rounds of every bad frame from a fake server:
%%             crashes (must be 0) and reconnects
%%   big       one BIG_MB MB message arriving in 64 KiB pieces: receive time
%%   vm        VM_KILLS kill -9 of the release during a period close job,
%%             then a restart: the invoice lines against a clean run
-module(tally_soak).

-export([main/0]).

-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).

main() ->
    Parts = string:tokens(env("SOAK_PARTS", "port,nats,hostile,big,vm"), ","),
    io:format("tally soak: ~s~n", [string:join(Parts, ", ")]),
    Results = [{P, run(P)} || P <- Parts],
    Failed = [P || {P, R} <- Results, R =/= ok],
    io:format("~nsoak ~s~n", [case Failed of [] -> "passed"; _ -> "FAILED: " ++ string:join(Failed, ", ") end]),
    halt(case Failed of [] -> 0; _ -> 1 end).

run(Part) ->
    T0 = erlang:monotonic_time(millisecond),
    R = try tally_test_support:quiet(fun() -> part(Part) end)
        catch C:E:St -> io:format("  ~s: ~p:~p~n  ~p~n", [Part, C, E, St]), error
        end,
    io:format("  (~s: ~.1f s)~n", [Part, (erlang:monotonic_time(millisecond) - T0) / 1000]),
    R.

part("port") -> part_port();
part("nats") -> part_nats();
part("hostile") -> part_hostile();
part("big") -> part_big();
part("vm") -> part_vm().

env(Name, Default) ->
    case os:getenv(Name) of false -> Default; "" -> Default; V -> V end.
int_env(Name, Default) -> list_to_integer(env(Name, integer_to_list(Default))).
deadline() -> erlang:monotonic_time(millisecond) + 1000 * int_env("SOAK_MAX_SECONDS", 900).
past(Deadline) -> erlang:monotonic_time(millisecond) > Deadline.

now_ms() -> erlang:monotonic_time(microsecond) / 1000.

stats(Name, Unit, Xs) when Xs =/= [] ->
    S = lists:sort(Xs), N = length(S),
    At = fun(Q) -> lists:nth(max(1, min(N, round(Q * N))), S) end,
    io:format("  ~-28s n=~b  min ~.1f  median ~.1f  p95 ~.1f  max ~.1f ~s~n",
              [Name, N, float(hd(S)), float(At(0.5)), float(At(0.95)), float(lists:last(S)), Unit]);
stats(Name, _, []) ->
    io:format("  ~-28s none~n", [Name]).

%%% Port kills

part_port() ->
    Kills = int_env("PORT_KILLS", 100),
    Events = int_env("PORT_EVENTS", 300000),
    Chunks = chunks(events(Events), 64 * 1024),
    io:format("~nport: ~b kill -9 during an ingest of ~b events (~.1f MB in ~b chunks)~n",
              [Kills, Events, iolist_size(Chunks) / 1048576, length(Chunks)]),
    Want = nif_export(Chunks),
    {ok, Ref} = tally_port:start_supervised(#{restart_intensity => {Kills + 10, 10}}),
    Deadline = deadline(),
    try
        {ok, A} = tally_port:call(Ref, aggregator_new, {?CONFIG}),
        {ok, P} = tally_port:call(Ref, parser_new, {json_lines, ?OPTIONS}),
        Self = self(),
        Killer = spawn_link(fun() -> killer(Ref, Self, []) end),
        KillAt = sets:from_list([length(Chunks) * K div (Kills + 1) || K <- lists:seq(1, Kills)]),
        erlang:garbage_collect(),
        Mem0 = erlang:memory(total),
        {Retries, MemMax, _} =
            lists:foldl(fun(C, {D, M, I}) ->
                                _ = sets:is_element(I, KillAt) andalso not past(Deadline) andalso (Killer ! kill),
                                {_, D1} = retrying(Ref, aggregator_feed, {A, P, C}, D),
                                {D1, max(M, erlang:memory(total)), I + 1}
                        end, {0, Mem0, 0}, Chunks),
        Killer ! stop,
        Recoveries = receive {recoveries, Rs} -> Rs after 120000 -> error(killer_hung) end,
        {_, _} = retrying(Ref, aggregator_finish, {A, P}, 0),
        {Got, _} = retrying(Ref, aggregator_export, {A}, 0),
        erlang:garbage_collect(),
        Mem1 = erlang:memory(total),
        stats("recovery (kill to rebuilt)", "ms", [Ms || {Ms, _, _} <- Recoveries]),
        stats("journal replayed, ops", "", [Ops || {_, Ops, _} <- Recoveries]),
        stats("journal replayed, MB", "", [B / 1048576 || {_, _, B} <- Recoveries]),
        {Fixed, PerMb} = fit([{B / 1048576, Ms} || {Ms, _, B} <- Recoveries]),
        io:format("  recovery about ~.1f ms + ~.1f ms per MB of journal replayed (least squares)~n", [Fixed, PerMb]),
        io:format("  kills ~b, requests re-sent after a kill ~b~n", [length(Recoveries), Retries]),
        io:format("  VM memory: ~.1f MB before, ~.1f MB at most, ~.1f MB after~n",
                  [Mem0 / 1048576, MemMax / 1048576, Mem1 / 1048576]),
        Exact = Got =:= Want,
        io:format("  totals exact (export equals the NIF's): ~p~n", [Exact]),
        case Exact andalso length(Recoveries) =:= Kills of true -> ok; false -> error end
    after
        tally_port:stop(Ref)
    end.

%% Least squares Y = A + B X.
fit(Points) when length(Points) >= 2 ->
    N = length(Points),
    Sx = lists:sum([X || {X, _} <- Points]), Sy = lists:sum([Y || {_, Y} <- Points]),
    Sxx = lists:sum([X * X || {X, _} <- Points]), Sxy = lists:sum([X * Y || {X, Y} <- Points]),
    case N * Sxx - Sx * Sx of
        D when D == 0 -> {Sy / N, 0.0};
        D -> B = (N * Sxy - Sx * Sy) / D, {(Sy - B * Sx) / N, B}
    end;
fit(_) -> {0.0, 0.0}.

%% On `kill`: records the journal to replay, kills the OS process, and
%% times until the new owner has rebuilt (it registers only then).
killer(Ref, Parent, Acc) ->
    receive
        kill ->
            #{journal_ops := Ops, journal_bytes := Bytes} = tally_port:stats(Ref),
            OsPid = tally_port:os_pid(Ref),
            T0 = now_ms(),
            os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            wait_new_os_pid(Ref, OsPid),
            killer(Ref, Parent, [{now_ms() - T0, Ops, Bytes} | Acc]);
        stop ->
            Parent ! {recoveries, lists:reverse(Acc)}
    end.

wait_new_os_pid(Ref, Old) ->
    case catch tally_port:os_pid(Ref) of
        New when is_integer(New), New =/= Old -> ok;
        _ -> timer:sleep(1), wait_new_os_pid(Ref, Old)
    end.

retrying(Ref, Op, Args, Deaths) ->
    case tally_port:call(Ref, Op, Args) of
        {error, {port_exited, _}} -> retrying(Ref, Op, Args, Deaths + 1);
        {ok, Value} -> {Value, Deaths};
        Other -> error({unexpected, Op, Other})
    end.

events(N) -> iolist_to_binary([line(I) || I <- lists:seq(1, N)]).

line(I) ->
    Customer = integer_to_binary(I rem 500),
    Time = 1790812800 + (I * 7919) rem (20 * 86400),
    {{Y, Mo, D}, {H, Mi, S}} = calendar:system_time_to_universal_time(Time, second),
    Stamp = io_lib:format("~4..0b-~2..0b-~2..0bT~2..0b:~2..0b:~2..0bZ", [Y, Mo, D, H, Mi, S]),
    iolist_to_binary(["{\"id\":\"e", integer_to_binary(I), "\",\"source\":\"edge\",\"subject\":\"c", Customer,
                      "\",\"time\":\"", Stamp, "\",\"data\":{\"resource\":\"r", integer_to_binary(I rem 3),
                      "\",\"meter\":\"bandwidth_out_bytes\",\"value\":", integer_to_binary(I * 31 rem 100000), "}}\n"]).

chunks(Bin, Size) when byte_size(Bin) =< Size -> [Bin];
chunks(Bin, Size) -> <<C:Size/binary, Rest/binary>> = Bin, [C | chunks(Rest, Size)].

nif_export(Chunks) ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, P} = tally_nif:parser_new(json_lines, ?OPTIONS),
    [{ok, _} = tally_nif:aggregator_feed(A, P, C) || C <- Chunks],
    {ok, _} = tally_nif:aggregator_finish(A, P),
    {ok, Bytes} = tally_nif:aggregator_export(A),
    Bytes.

%%% NATS restarts

part_nats() ->
    Restarts = int_env("NATS_RESTARTS", 20),
    PerRound = 50,
    io:format("~nnats: ~b restarts of nats-server while ~b keys are published~n", [Restarts, Restarts * PerRound]),
    S0 = tally_nats_server:start(#{}),
    C = tally_nats_server:client(#{port => tally_nats_server:port(S0), ping_interval => 500}),
    ok = tally_nats_server:wait_connected(C, 5000),
    {ok, nil} = 'tally@app@nats':create_stream(C, <<"SOAK">>, [<<"soak.>">>], 120000),
    Deadline = deadline(),
    {S, Reconnects, Sent} =
        lists:foldl(
          fun(Round, {Srv, Rs, N}) ->
                  %% Publish this round's keys, each retried until acknowledged;
                  %% the server goes down in the middle of the round.
                  Keys = [integer_to_binary(Round * PerRound + K) || K <- lists:seq(1, PerRound)],
                  {First, Second} = lists:split(PerRound div 2, Keys),
                  ok = publish_all(C, First),
                  case past(Deadline) of
                      true -> {Srv, Rs, N + length(First)};
                      false ->
                          Down = tally_nats_server:stop(Srv),
                          Up = tally_nats_server:restart(Down),
                          T0 = now_ms(),
                          ok = tally_nats_server:wait_connected(C, 30000),
                          Ms = now_ms() - T0,
                          ok = publish_all(C, Second),
                          {Up, [Ms | Rs], N + PerRound}
                  end
          end, {S0, [], 0}, lists:seq(1, Restarts)),
    try
        {ok, {reply, _, _, Info}} = 'tally@app@nats':request(C, <<"$JS.API.STREAM.INFO.SOAK">>, [], <<>>, 5000),
        {ok, #{<<"state">> := #{<<"messages">> := Stored}}} = tally_json:decode(Info),
        stats("reconnect after restart", "ms", Reconnects),
        io:format("  restarts ~b, keys published ~b, messages in the stream ~b (each key once: ~p)~n",
                  [length(Reconnects), Sent, Stored, Stored =:= Sent]),
        case Stored =:= Sent andalso length(Reconnects) =:= Restarts of true -> ok; false -> error end
    after
        'tally@app@nats':stop(C),
        tally_nats_server:stop(S)
    end.

publish_all(_C, []) -> ok;
publish_all(C, [K | Rest] = Keys) ->
    case 'tally@app@nats':js_publish(C, <<"soak.k">>, K, [], K) of
        {ok, _} -> publish_all(C, Rest);
        {error, _} -> timer:sleep(20), publish_all(C, Keys)
    end.

%%% A hostile server

part_hostile() ->
    Rounds = int_env("HOSTILE_ROUNDS", 10),
    Frames = [<<"HMSG _INBOX.x.1 1 0 0\r\n\r\n">>, <<"HMSG _INBOX.x.1 1 30 4\r\nNATS/1.0\r\n\r\n">>,
              <<"HMSG a 1 12 12\r\nHTTP/1.1\r\n\r\n\r\n">>, <<"MSG a 1 -1\r\n">>, <<"MSG a 1 99999999999\r\n">>,
              <<"MSG a 1 3\r\nabcdef\r\n">>, <<"INFO not json\r\n">>, <<"GARBAGE\r\n">>, <<255, 0, 254, "\r\n">>,
              binary:copy(<<"x">>, 70000)],
    io:format("~nhostile: ~b rounds of ~b bad frames from a fake server~n", [Rounds, length(Frames)]),
    process_flag(trap_exit, true),
    Results = [hostile_case(F) || _ <- lists:seq(1, Rounds), F <- Frames],
    Crashes = length([x || {crashed, _} <- Results]),
    Times = [Ms || {reconnected, Ms} <- Results],
    stats("refused frame to reconnect", "ms", Times),
    io:format("  cases ~b, client crashes ~b, reconnects ~b~n", [length(Results), Crashes, length(Times)]),
    case Crashes =:= 0 andalso length(Times) =:= length(Results) of true -> ok; false -> error end.

hostile_case(Frame) ->
    {Fake, Port} = tally_nats_hostile_tests:fake_server(#{<<"server_id">> => <<"fake">>, <<"headers">> => true},
                                                        <<"PONG\r\n">>, [Frame]),
    C = tally_nats_server:client(#{port => Port, ping_interval => 60000}),
    R = receive {fake, accepted, 1} ->
                T0 = now_ms(),
                receive {fake, accepted, 2} -> {reconnected, now_ms() - T0}
                after 10000 -> no_reconnect
                end
        after 5000 -> no_connect
        end,
    Result = case is_process_alive('tally@app@nats':pid(C)) of true -> R; false -> {crashed, R} end,
    catch 'tally@app@nats':stop(C),
    unlink(Fake), exit(Fake, kill),
    flush(),
    Result.

flush() -> receive _ -> flush() after 0 -> ok end.

%%% A big message

part_big() ->
    Mb = list_to_float(env("BIG_MB", "9.4")),
    Size = round(Mb * 1048576),
    Payload = binary:copy(<<"0123456789abcdef">>, Size div 16),
    Frame = <<"MSG big 2 ", (integer_to_binary(byte_size(Payload)))/binary, "\r\n", Payload/binary, "\r\n">>,
    io:format("~nbig: one ~.1f MB message from a fake server in 64 KiB pieces~n", [Mb]),
    Pieces = chunks(Frame, 65536),
    {Fake, Port} = tally_nats_hostile_tests:fake_server(#{<<"server_id">> => <<"fake">>, <<"headers">> => true},
                                                        <<"PONG\r\n">>, Pieces),
    C = tally_nats_server:client(#{port => Port, ping_interval => 60000}),
    Inbox = 'tally@otp@process':new_subject(),
    _ = 'tally@app@nats':subscribe(C, <<"big">>, Inbox),
    %% The fake sends right after PONG; time from the first piece's arrival
    %% is close to time from subscribing, on loopback.
    T0 = now_ms(),
    R = case 'tally@otp@process':'receive'(Inbox, 120000) of
            {ok, {delivery, _, <<"big">>, _, Got}} -> {now_ms() - T0, Got =:= Payload};
            {error, nil} -> timeout
        end,
    catch 'tally@app@nats':stop(C),
    unlink(Fake), exit(Fake, kill),
    case R of
        {Ms, Same} ->
            io:format("  received in ~.1f ms (whole and equal: ~p)~n", [Ms, Same]),
            case Same of true -> ok; false -> error end;
        timeout ->
            io:format("  not received~n"), error
    end.

%%% VM kills

part_vm() ->
    Kills = int_env("VM_KILLS", 50),
    Release = filename:absname("_build/default/rel/tally/bin/tally"),
    io:format("~nvm: ~b kill -9 of the release during `TALLY_CLOSE_PERIOD=2026-10` on the sample, then a restart~n",
              [Kills]),
    Clean = tmp_dir(),
    {0, _} = run_release(Release, Clean, infinity),
    Want = invoice_lines(Clean),
    io:format("  clean run: ~b invoice lines~n", [length(Want)]),
    Deadline = deadline(),
    rand:seed(exsss, {7, 7, 7}),
    Trials = lists:foldl(
               fun(_, Acc) ->
                       case past(Deadline) of
                           true -> Acc;
                           false ->
                               Dir = tmp_dir(),
                               Delay = 200 + rand:uniform(2500),
                               Killed = run_release(Release, Dir, Delay),
                               {Status, _} = run_release(Release, Dir, infinity),
                               Got = invoice_lines(Dir),
                               os:cmd("rm -rf " ++ Dir),
                               [{Delay, Killed, Status, Got =:= Want, length(Got)} | Acc]
                       end
               end, [], lists:seq(1, Kills)),
    KilledMid = length([x || {_, killed, _, _, _} <- Trials]),
    Exact = length([x || {_, _, 0, true, _} <- Trials]),
    io:format("  trials ~b, killed before the job ended ~b, invoice lines exact after the restart ~b~n",
              [length(Trials), KilledMid, Exact]),
    [io:format("  trial killed at ~b ms: exit ~p, ~b lines, exact ~p~n", [D, S, N, E])
     || {D, _, S, E, N} <- Trials, not (S =:= 0 andalso E)],
    case Exact =:= length(Trials) andalso length(Trials) =:= Kills of true -> ok; false -> error end.

tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-soak-XXXXXX")).

%% Runs the release on the sample with its data in Dir: to the end
%% (infinity) or killed with SIGKILL after KillAfter ms.
run_release(Release, Dir, KillAfter) ->
    Env = [{"TALLY_BASE_DIR", filename:absname("")}, {"TALLY_DATA_DIR", Dir}, {"TALLY_CLOSE_PERIOD", "2026-10"},
           {"TALLY_NODE_NAME", "tallysoak" ++ os:getpid()}],
    Port = open_port({spawn_executable, Release}, [{args, ["foreground"]}, {env, Env}, exit_status, binary,
                                                   stderr_to_stdout]),
    {os_pid, ShPid} = erlang:port_info(Port, os_pid),
    Wait = case KillAfter of infinity -> 300000; _ -> KillAfter end,
    receive
        {Port, {exit_status, S}} -> {S, done}
    after Wait ->
        case KillAfter of
            infinity -> {timeout, done};
            _ ->
                %% bin/tally execs into erlexec, then beam: the VM is that pid.
                os:cmd("kill -9 " ++ integer_to_list(ShPid)),
                receive {Port, {exit_status, _}} -> ok after 10000 -> ok end,
                killed
        end
    end.

invoice_lines(Dir) ->
    case file:read_file(filename:join(Dir, "invoices.jsonl")) of
        {ok, Bin} -> lists:sort(binary:split(Bin, <<"\n">>, [global, trim_all]));
        {error, _} -> []
    end.
