%% @doc Test support for the Gleam tests of the bus modules (tally/app/nats,
%% the sinks, the publisher): a real nats-server on loopback (through
%% tally_nats_server), the Erlang outbox, how a term prints, byte search.
-module(tally_bus_test_ffi).

-export([printed/1, find/2, start_server/4, stop_server/1, restart_server/1, server_port/1, tls_files/0,
         read_stream/3, tmp_dir/0, start_outbox/1, outbox_put/2, outbox_size/1, outbox_acked/2, read_file/1,
         write_file/2, quiet/1]).

%% A binary as it is; any other term as `~p` prints it (what a crash
%% report or sys:get_status shows).
-spec printed(term()) -> binary().
printed(Bin) when is_binary(Bin) -> Bin;
printed(Term) -> unicode:characters_to_binary(io_lib:format("~p", [Term])).

%% Where Needle first is in Haystack, or {-1, 0}.
-spec find(binary(), binary()) -> {integer(), non_neg_integer()}.
find(Haystack, Needle) ->
    case binary:match(Haystack, Needle) of
        nomatch -> {-1, 0};
        Found -> Found
    end.

%% A nats-server with JetStream: Auth is no_auth | {user_password, U, P} |
%% {token, T} (the test's own ServerAuth); Tls none | {some, TlsFiles};
%% MaxPayload none | {some, Bytes}.
-spec start_server(tuple() | atom(), term(), boolean(), term()) -> term().
start_server(Auth, Tls, VerifyClients, MaxPayload) ->
    A = case Auth of
            no_auth -> #{};
            {user_password, U, P} -> #{user => {binary_to_list(U), binary_to_list(P)}};
            {token, T} -> #{token => binary_to_list(T)}
        end,
    T1 = case Tls of
             none -> #{};
             {some, {tls_files, Ca, ServerCert, ServerKey, ClientCa, ClientCert, ClientKey}} ->
                 #{tls => maps:map(fun(_, V) -> binary_to_list(V) end,
                                   #{ca => Ca, server_cert => ServerCert, server_key => ServerKey,
                                     client_ca => ClientCa, client_cert => ClientCert, client_key => ClientKey}),
                   verify_clients => VerifyClients}
         end,
    M = case MaxPayload of none -> #{}; {some, N} -> #{max_payload => N} end,
    tally_nats_server:start(maps:merge(maps:merge(A, T1), M)).

stop_server(S) -> tally_nats_server:stop(S).
restart_server(S) -> tally_nats_server:restart(S).
server_port(S) -> tally_nats_server:port(S).

%% TlsFiles(ca, server_cert, server_key, client_ca, client_cert, client_key).
tls_files() ->
    #{ca := Ca, server_cert := SC, server_key := SK, client_ca := CC, client_cert := C, client_key := K} =
        tally_nats_server:tls_files(binary_to_list(tmp_dir())),
    {tls_files, b(Ca), b(SC), b(SK), b(CC), b(C), b(K)}.

b(L) -> unicode:characters_to_binary(L).

read_stream(Client, Stream, Want) -> tally_nats_server:read_stream(Client, Stream, Want).

-spec tmp_dir() -> binary().
tmp_dir() -> list_to_binary(string:trim(os:cmd("mktemp -d -t tally-bus-XXXXXX"))).

%% The outbox (tally/app/outbox), linked to the caller.
start_outbox(Dir) ->
    {ok, {started, _Pid, O}} = 'tally@app@outbox':start(Dir),
    O.

outbox_put(O, Items) -> {ok, nil} = 'tally@app@outbox':put(O, [{item, K, S, P} || {K, S, P} <- Items]), nil.
outbox_size(O) -> 'tally@app@outbox':size(O).
outbox_acked(O, Key) -> {ok, Acked} = 'tally@app@outbox':acked(O, Key), Acked.

-spec read_file(binary()) -> {ok, binary()} | {error, nil}.
read_file(Path) ->
    case file:read_file(Path) of
        {ok, Bytes} -> {ok, Bytes};
        {error, _} -> {error, nil}
    end.

write_file(Path, Bytes) -> ok = file:write_file(Path, Bytes), nil.

%% Runs Body with the logger silenced (reports a test provokes on purpose).
quiet(Body) -> tally_test_support:quiet(Body).
