%% @doc The socket calls of the Gleam NATS client (tally/app/nats): TCP
%% through gen_tcp, TLS through OTP's ssl, behind one socket value
%% (`{tcp, Port}` or `{tls, SslSocket}`) so the Gleam side never cares
%% which. Errors come back as text for logs. Every export returns a Gleam
%% value (`{ok, X}` / `{error, Text}`).
-module(tally_socket_ffi).

-export([connect/3, upgrade/4, send/2, recv/2, active_once/1, close/1, is_tls/1, socket_event/1]).

-type socket() :: {tcp, gen_tcp:socket()} | {tls, ssl:sslsocket()}.
%% The Gleam record TlsOptions(ca_file, cert_file, key_file, server_name).
-type option(T) :: {some, T} | none.
-type tls_options() :: {tls_options, option(binary()), option(binary()), option(binary()), option(binary())}.
-export_type([socket/0]).

%% A TCP connection in passive mode (the handshake reads with recv/2).
-spec connect(binary(), inet:port_number(), non_neg_integer()) -> {ok, socket()} | {error, binary()}.
connect(Host, Port, TimeoutMs) ->
    case gen_tcp:connect(address(Host), Port, [binary, {active, false}, {nodelay, true}], TimeoutMs) of
        {ok, S} -> {ok, {tcp, S}};
        {error, Reason} -> {error, text(Reason)}
    end.

address(Host) ->
    Chars = binary_to_list(Host),
    case inet:parse_address(Chars) of
        {ok, Ip} -> Ip;
        {error, _} -> Chars
    end.

%% TLS over an open TCP connection: the server verified against the CA file
%% (or the system's CAs) with its host name checked (the configured
%% server_name, else Host when it is a name), and a client certificate
%% when one is configured.
-spec upgrade(socket(), binary(), tls_options(), non_neg_integer()) -> {ok, socket()} | {error, binary()}.
upgrade({tcp, Tcp}, Host, {tls_options, CaFile, CertFile, KeyFile, ServerName}, TimeoutMs) ->
    {ok, _} = application:ensure_all_started(ssl),
    CA = case CaFile of
             {some, File} -> {ok, [{cacertfile, binary_to_list(File)}]};
             none ->
                 try {ok, [{cacerts, public_key:cacerts_get()}]}
                 catch _:_ -> {error, <<"no CA file configured and no system CA certificates">>}
                 end
         end,
    Name = case {ServerName, inet:parse_address(binary_to_list(Host))} of
               {{some, N}, _} -> binary_to_list(N);
               {none, {error, _}} -> binary_to_list(Host);
               {none, {ok, _}} -> none
           end,
    Check = case Name of
                none -> [{server_name_indication, disable}];
                _ -> [{server_name_indication, Name},
                      {customize_hostname_check, [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]}]
            end,
    Client = [{certfile, binary_to_list(F)} || {some, F} <- [CertFile]]
             ++ [{keyfile, binary_to_list(F)} || {some, F} <- [KeyFile]],
    case CA of
        {ok, CAOpts} ->
            Opts = [binary, {active, false}, {verify, verify_peer}, {depth, 10}] ++ CAOpts ++ Check ++ Client,
            case ssl:connect(Tcp, Opts, max(1, TimeoutMs)) of
                {ok, Ssl} -> {ok, {tls, Ssl}};
                {error, Reason} -> {error, text(Reason)}
            end;
        {error, _} = Error ->
            Error
    end;
upgrade({tls, _}, _Host, _Options, _TimeoutMs) ->
    {error, <<"already TLS">>}.

-spec send(socket(), iodata()) -> {ok, nil} | {error, binary()}.
send({tcp, S}, Data) -> result(gen_tcp:send(S, Data));
send({tls, S}, Data) -> result(ssl:send(S, Data)).

%% The next bytes, waiting at most TimeoutMs (passive mode only).
-spec recv(socket(), non_neg_integer()) -> {ok, binary()} | {error, binary()}.
recv({tcp, S}, TimeoutMs) -> recv_result(gen_tcp:recv(S, 0, TimeoutMs));
recv({tls, S}, TimeoutMs) -> recv_result(ssl:recv(S, 0, TimeoutMs)).

%% The next bytes (or the close) come to the owner as one message.
-spec active_once(socket()) -> {ok, nil} | {error, binary()}.
active_once({tcp, S}) -> result(inet:setopts(S, [{active, once}]));
active_once({tls, S}) -> result(ssl:setopts(S, [{active, once}])).

-spec close(socket()) -> nil.
close({tcp, S}) -> _ = gen_tcp:close(S), nil;
close({tls, S}) -> _ = ssl:close(S), nil.

-spec is_tls(socket()) -> boolean().
is_tls({tls, _}) -> true;
is_tls({tcp, _}) -> false.

%% A socket message to its owner, as the Gleam type SocketEvent:
%% {data, Socket, Bytes} | {closed, Socket} | {failed, Socket, Text};
%% {error, nil} for any other message.
-spec socket_event(term()) -> {ok, tuple()} | {error, nil}.
socket_event({tcp, S, Bytes}) -> {ok, {data, {tcp, S}, Bytes}};
socket_event({ssl, S, Bytes}) -> {ok, {data, {tls, S}, Bytes}};
socket_event({tcp_closed, S}) -> {ok, {closed, {tcp, S}}};
socket_event({ssl_closed, S}) -> {ok, {closed, {tls, S}}};
socket_event({tcp_error, S, Reason}) -> {ok, {failed, {tcp, S}, text(Reason)}};
socket_event({ssl_error, S, Reason}) -> {ok, {failed, {tls, S}, text(Reason)}};
socket_event(_) -> {error, nil}.

result(ok) -> {ok, nil};
result({error, Reason}) -> {error, text(Reason)}.

recv_result({ok, Bytes}) -> {ok, Bytes};
recv_result({error, Reason}) -> {error, text(Reason)}.

text(Reason) when is_atom(Reason) -> atom_to_binary(Reason);
text(Reason) -> unicode:characters_to_binary(io_lib:format("~0p", [Reason])).
