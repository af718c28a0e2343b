%% Test support: a real nats-server with JetStream on a loopback port, its
%% store in a fresh directory, started and stopped (and restarted on the
%% same port and store, for fault tests) by the tests themselves.
-module(tally_nats_server).

-export([start/1, stop/1, restart/1, port/1, read_stream/3, wait_connected/2]).

-record(server, {port :: inet:port_number(), dir :: file:filename(), args :: [string()], os_pid :: string()}).

%% Opts: #{user => {U, P}} or #{token => T} or #{}.
start(Opts) ->
    Exe = os:find_executable("nats-server"),
    Exe =/= false orelse error(nats_server_not_installed),
    Port = free_port(),
    Dir = string:trim(os:cmd("mktemp -d -t tally-nats-XXXXXX")),
    Auth = case Opts of
               #{user := {U, P}} -> ["--user", U, "--pass", P];
               #{token := T} -> ["--auth", T];
               _ -> []
           end,
    Args = ["-a", "127.0.0.1", "-p", integer_to_list(Port), "-js", "-sd", Dir] ++ Auth,
    launch(#server{port = Port, dir = Dir, args = Args, os_pid = ""}).

launch(#server{args = Args, port = Port} = S) ->
    %% Through sh, so the server's pid is known and its output goes to a log.
    Log = filename:join(S#server.dir, "server.log"),
    Cmd = "nats-server " ++ string:join(Args, " ") ++ " >>" ++ Log ++ " 2>&1 & echo $!",
    OsPid = string:trim(os:cmd(Cmd)),
    ok = wait_listening(Port, 100),
    S#server{os_pid = OsPid}.

port(#server{port = Port}) -> Port.

stop(#server{os_pid = OsPid} = S) ->
    os:cmd("kill " ++ OsPid),
    wait_gone(OsPid, 200),
    S.

%% Same port, same store: the stream and its dedup window survive.
restart(S) ->
    launch(stop(S)).

free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    gen_tcp:close(L),
    Port.

wait_listening(_Port, 0) -> {error, nats_server_not_listening};
wait_listening(Port, N) ->
    case gen_tcp:connect({127, 0, 0, 1}, Port, [], 100) of
        {ok, S} -> gen_tcp:close(S), ok;
        {error, _} -> timer:sleep(50), wait_listening(Port, N - 1)
    end.

wait_gone(_OsPid, 0) -> ok;
wait_gone(OsPid, N) ->
    case filelib:is_dir("/proc/" ++ OsPid) of
        true -> timer:sleep(25), wait_gone(OsPid, N - 1);
        false -> ok
    end.

%% Every message of Stream, in order, as {Headers, Payload}: an ephemeral
%% push consumer delivers them to a fresh subject this process subscribes to.
read_stream(Client, Stream, Want) ->
    ok = wait_connected(Client, 5000),
    Deliver = <<"tally.test.deliver.", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    {ok, _Sid} = tally_nats:subscribe(Client, Deliver, self()),
    Config = tally_json:encode(#{<<"stream_name">> => Stream,
                                 <<"config">> => #{<<"deliver_subject">> => Deliver,
                                                   <<"ack_policy">> => <<"none">>,
                                                   <<"deliver_policy">> => <<"all">>}}),
    {ok, {_, Reply}} = tally_nats:request(Client, <<"$JS.API.CONSUMER.CREATE.", Stream/binary>>, [], Config, 5000),
    {ok, #{<<"config">> := _}} = tally_json:decode(Reply),
    collect(Want, []).

%% Polls the client until it is connected, for at most TimeoutMs.
wait_connected(Client, TimeoutMs) ->
    case tally_nats:is_connected(Client) of
        true -> ok;
        false when TimeoutMs =< 0 -> {error, not_connected};
        false -> timer:sleep(25), wait_connected(Client, TimeoutMs - 25)
    end.

collect(0, Acc) ->
    %% Anything more than expected would be a duplicate: wait a little for it.
    receive {nats_msg, _, _, Headers, Payload} -> lists:reverse([{Headers, Payload} | Acc])
    after 500 -> lists:reverse(Acc)
    end;
collect(N, Acc) ->
    receive {nats_msg, _, _, Headers, Payload} -> collect(N - 1, [{Headers, Payload} | Acc])
    after 5000 -> lists:reverse(Acc)
    end.
