%% Test support: a real nats-server with JetStream on a loopback port, its
%% store in a fresh directory, started and stopped (and restarted on the
%% same port and store, for fault tests) by the tests themselves.
-module(tally_nats_server).

-export([start/1, stop/1, restart/1, port/1, client/1, read_stream/3, wait_connected/2, tls_files/1]).

-include_lib("public_key/include/public_key.hrl").

-record(server, {port :: inet:port_number(), dir :: file:filename(), args :: [string()], os_pid :: string()}).

%% Opts: #{user => {U, P}} or #{token => T} or #{}; with
%% tls => tls_files/1's map, the server requires TLS (and, with
%% verify_clients => true, a client certificate signed by the client CA);
%% with max_payload => Bytes, the server's limit on a message.
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
    Tls = case Opts of
              #{tls := #{server_cert := Cert, server_key := Key, client_ca := ClientCA}} ->
                  ["--tls", "--tlscert", Cert, "--tlskey", Key]
                  ++ case maps:get(verify_clients, Opts, false) of
                         true -> ["--tlsverify", "--tlscacert", ClientCA];
                         false -> []
                     end;
              _ -> []
          end,
    Conf = case Opts of
               #{max_payload := Max} ->
                   ConfFile = filename:join(Dir, "server.conf"),
                   ok = file:write_file(ConfFile, io_lib:format("max_payload: ~B~n", [Max])),
                   ["-c", ConfFile];
               _ -> []
           end,
    Args = ["-a", "127.0.0.1", "-p", integer_to_list(Port), "-js", "-sd", Dir] ++ Auth ++ Tls ++ Conf,
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
    _ = os:cmd("kill " ++ OsPid),
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

%% A NATS client (tally/app/nats) linked to the caller, from the bus map
%% the configuration uses (host, port, auth, tls, ping_interval...).
client(Bus) ->
    {ok, C} = 'tally@app@nats':start(tally_bus_config:nats(Bus)),
    C.

%% Every message of Stream, in order, as {Headers, Payload}: an ephemeral
%% push consumer delivers them to a fresh subject this process subscribes to.
read_stream(Client, Stream, Want) ->
    ok = wait_connected(Client, 5000),
    Deliver = <<"tally.test.deliver.", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Inbox = 'tally@otp@process':new_subject(),
    _Sid = 'tally@app@nats':subscribe(Client, Deliver, Inbox),
    {Subject, Config} = 'tally@app@nats_protocol':consumer_create(Stream, Deliver),
    {ok, {reply, _, _, Reply}} = 'tally@app@nats':request(Client, Subject, [], Config, 5000),
    {ok, #{<<"config">> := _}} = tally_json:decode(Reply),
    collect(Inbox, Want, []).

%% Polls the client until it is connected, for at most TimeoutMs.
wait_connected(Client, TimeoutMs) ->
    case 'tally@app@nats':is_connected(Client) of
        true -> ok;
        false when TimeoutMs =< 0 -> {error, not_connected};
        false -> timer:sleep(25), wait_connected(Client, TimeoutMs - 25)
    end.

%% Anything more than expected would be a duplicate: after Want messages,
%% wait a little for one more.
collect(Inbox, Want, Acc) ->
    Wait = case Want of 0 -> 500; _ -> 5000 end,
    case 'tally@otp@process':'receive'(Inbox, Wait) of
        {ok, {delivery, _, _, Headers, Payload}} when Want =:= 0 -> lists:reverse([{Headers, Payload} | Acc]);
        {ok, {delivery, _, _, Headers, Payload}} -> collect(Inbox, Want - 1, [{Headers, Payload} | Acc]);
        {error, nil} -> lists:reverse(Acc)
    end.

%% A CA, a server certificate for "localhost" and a client certificate
%% (made by OTP's public_key, no external tool), as PEM files in Dir:
%% #{ca, server_cert, server_key, client_ca, client_cert, client_key}.
%% `ca` signed the server's certificate, `client_ca` the client's.
tls_files(Dir) ->
    EC = [{key, {namedCurve, secp256r1}}, {digest, sha256}],
    San = #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false, extnValue = [{dNSName, "localhost"}]},
    #{server_config := Server, client_config := Client} =
        public_key:pkix_test_data(#{server_chain => #{root => EC, intermediates => [], peer => EC ++ [{extensions, [San]}]},
                                    client_chain => #{root => EC, intermediates => [], peer => EC}}),
    Write = fun(Name, Entries) ->
                    Path = filename:join(Dir, Name),
                    ok = file:write_file(Path, public_key:pem_encode(Entries)),
                    Path
            end,
    Cert = fun(Config) -> {cert, Der} = lists:keyfind(cert, 1, Config), {'Certificate', Der, not_encrypted} end,
    Key = fun(Config) -> {key, {Type, Der}} = lists:keyfind(key, 1, Config), {Type, Der, not_encrypted} end,
    %% The CA that issued a peer's certificate, among all those the data set made.
    All = lists:usort(lists:append([Ders || Config <- [Server, Client], {cacerts, Ders} <- Config])),
    IssuerOf = fun(Config) ->
                       {cert, Der} = lists:keyfind(cert, 1, Config),
                       [{'Certificate', CA, not_encrypted} || CA <- All, public_key:pkix_is_issuer(Der, CA)]
               end,
    #{ca => Write("ca.pem", IssuerOf(Server)),
      server_cert => Write("server-cert.pem", [Cert(Server)]),
      server_key => Write("server-key.pem", [Key(Server)]),
      client_ca => Write("client-ca.pem", IssuerOf(Client)),
      client_cert => Write("client-cert.pem", [Cert(Client)]),
      client_key => Write("client-key.pem", [Key(Client)])}.
