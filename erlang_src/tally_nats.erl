%% @doc A NATS client for tally: one connection (TCP, or TLS through OTP's
%% ssl), CONNECT with user and password or a token, PING/PONG keepalive,
%% reconnection with exponential backoff and jitter, subscriptions,
%% request/reply through one wildcard inbox, and JetStream publishing with
%% `Nats-Msg-Id` (the server drops a message whose id it saw within the
%% stream's duplicate window).
%%
%% Safety: the connection is upgraded to TLS before CONNECT whenever the
%% server's INFO says `tls_required` or `tls` is configured (server verified
%% against the CA file, or the system's CAs, with the host name checked;
%% an optional client certificate); credentials never go over plain TCP to
%% a server that asks for TLS, and a configured TLS that the server does
%% not offer is refused. A frame that breaks the protocol closes the
%% connection with a logged reason and the client reconnects: nothing a
%% server sends crashes it. Passwords and tokens stay wrapped
%% (tally_secret), so no state or crash report prints them. A publish over
%% the server's `max_payload` is refused, never sent.
%%
%% The protocol itself is tally_nats_proto (pure); this process only moves
%% bytes and keeps track of who waits for what. While disconnected, calls
%% fail at once with `{error, not_connected}`: the caller (the publisher)
%% owns its retry policy, and no request waits on a dead socket.
-module(tally_nats).
-behaviour(gen_server).

-export([start_link/1, request/5, js_publish/4, js_publish/5, create_stream/3, subscribe/3, is_connected/1, max_payload/1, stop/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(CONNECT_TIMEOUT, 5000).
-define(PING_INTERVAL, 5000).
-define(MAX_PINGS_OUT, 2).
-define(BACKOFF_MIN, 100).
-define(BACKOFF_MAX, 5000).

-type secret() :: binary() | tally_secret:secret().
-type tls() :: false | true | #{cacertfile => file:filename(), certfile => file:filename(),
                                keyfile => file:filename(), server_name => string()}.
-type options() :: #{host => inet:hostname() | inet:ip_address(),
                     port => inet:port_number(),
                     auth => none | {user, binary(), secret()} | {token, secret()},
                     tls => tls(),
                     name => binary(),
                     ping_interval => pos_integer()}.
-export_type([options/0, tls/0]).

-record(state, {opts :: options(),
                transport = gen_tcp :: gen_tcp | ssl,
                socket = none :: gen_tcp:socket() | ssl:sslsocket() | none,
                %% bytes received and not yet parsed (newest first), their
                %% size, and how many a whole frame needs (0: unknown)
                pending = [] :: [binary()],
                have = 0 :: non_neg_integer(),
                need = 0 :: non_neg_integer(),
                %% the server's max_payload (INFO); the NATS default until then
                max_payload = 1048576 :: pos_integer(),
                inbox :: binary(),
                next_token = 1 :: pos_integer(),
                %% reply token => caller
                requests = #{} :: #{binary() => {gen_server:from(), reference()}},
                %% sid => {subject, subscriber}
                subs = #{} :: #{binary() => {binary(), pid()}},
                next_sid = 2 :: pos_integer(),
                pings_out = 0 :: non_neg_integer(),
                %% the current connection's keepalive timer chain
                conn = none :: reference() | none,
                backoff = ?BACKOFF_MIN :: pos_integer()}).

%%% API

-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    gen_server:start_link(?MODULE, Opts, []).

-spec stop(pid()) -> ok.
stop(Client) ->
    gen_server:stop(Client).

-spec is_connected(pid()) -> boolean().
is_connected(Client) ->
    gen_server:call(Client, is_connected).

%% The largest publish (headers plus payload) the server takes.
-spec max_payload(pid()) -> pos_integer().
max_payload(Client) ->
    gen_server:call(Client, max_payload).

%% Publishes with a reply inbox and waits for the first reply.
%% The reply's headers lead with `{status, Code}` when the server gave a
%% status (503: no responders).
-spec request(pid(), binary(), tally_nats_proto:headers(), iodata(), timeout()) ->
          {ok, {[{status, non_neg_integer()} | {binary(), binary()}], binary()}} | {error, term()}.
request(Client, Subject, Headers, Payload, Timeout) ->
    gen_server:call(Client, {request, Subject, Headers, Payload, Timeout}, infinity).

%% Publishes to a JetStream stream's subject and waits for the stream's
%% acknowledgement: `{ok, #{stream, seq, duplicate}}` once it is stored.
-spec js_publish(pid(), binary(), binary(), iodata()) -> {ok, map()} | {error, term()}.
js_publish(Client, Subject, MsgId, Payload) ->
    js_publish(Client, Subject, MsgId, [], Payload).

%% The same with more headers after `Nats-Msg-Id` (the invoice schema's).
-spec js_publish(pid(), binary(), binary(), tally_nats_proto:headers(), iodata()) -> {ok, map()} | {error, term()}.
js_publish(Client, Subject, MsgId, Headers, Payload) ->
    case request(Client, Subject, [{<<"Nats-Msg-Id">>, MsgId} | Headers], Payload, 5000) of
        {ok, {[{status, 503} | _], _}} -> {error, no_stream_for_subject};
        {ok, {_, Body}} ->
            case tally_json:decode(Body) of
                {ok, #{<<"error">> := Error}} -> {error, {jetstream, Error}};
                {ok, #{<<"stream">> := Stream, <<"seq">> := Seq} = Ack} ->
                    {ok, #{stream => Stream, seq => Seq, duplicate => maps:get(<<"duplicate">>, Ack, false)}};
                _ -> {error, {bad_ack, Body}}
            end;
        {error, _} = Error -> Error
    end.

%% Creates a stream (file storage) over Subjects with a duplicate window;
%% a stream that already exists with that name is fine.
-spec create_stream(pid(), binary(), #{subjects := [binary()], duplicate_window_ms => pos_integer()}) ->
          ok | {error, term()}.
create_stream(Client, Name, #{subjects := Subjects} = Config) ->
    Window = maps:get(duplicate_window_ms, Config, 120000),
    Body = tally_json:encode(#{<<"name">> => Name, <<"subjects">> => Subjects, <<"storage">> => <<"file">>,
                               <<"duplicate_window">> => Window * 1000000}),
    case request(Client, <<"$JS.API.STREAM.CREATE.", Name/binary>>, [], Body, 5000) of
        {ok, {[{status, 503} | _], _}} -> {error, jetstream_not_enabled};
        {ok, {_, Reply}} ->
            case tally_json:decode(Reply) of
                {ok, #{<<"error">> := #{<<"err_code">> := 10058}}} -> ok;  % name in use
                {ok, #{<<"error">> := Error}} -> {error, {jetstream, Error}};
                {ok, #{<<"config">> := _}} -> ok;
                _ -> {error, {bad_reply, Reply}}
            end;
        {error, _} = Error -> Error
    end.

%% Delivers `{nats_msg, Sid, Subject, Headers, Payload}` to Pid for every
%% message on Subject (subscriptions survive reconnects).
-spec subscribe(pid(), binary(), pid()) -> {ok, binary()}.
subscribe(Client, Subject, Pid) ->
    gen_server:call(Client, {subscribe, Subject, Pid}).

%%% gen_server

-spec init(options()) -> {ok, #state{}}.
init(Opts0) ->
    %% Keep the password or token wrapped from here on (see tally_secret).
    Opts = case maps:get(auth, Opts0, none) of
               {user, U, P} -> Opts0#{auth => {user, U, tally_secret:wrap(P)}};
               {token, T} -> Opts0#{auth => {token, tally_secret:wrap(T)}};
               _ -> Opts0
           end,
    Inbox = <<"_INBOX.", (binary:encode_hex(crypto:strong_rand_bytes(8)))/binary>>,
    self() ! connect,
    {ok, #state{opts = Opts, inbox = Inbox}}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}} | {noreply, #state{}}.
handle_call(is_connected, _From, State) ->
    {reply, State#state.socket =/= none, State};
handle_call(max_payload, _From, State) ->
    {reply, State#state.max_payload, State};
handle_call({request, _, _, _, _}, _From, #state{socket = none} = State) ->
    {reply, {error, not_connected}, State};
handle_call({request, Subject, Headers, Payload, Timeout}, From, #state{next_token = N, max_payload = Max} = State) ->
    case tally_nats_proto:publish_size(Headers, Payload) of
        Size when Size > Max ->
            %% The server would refuse it and close the connection: never send it.
            {reply, {error, {payload_too_large, Size, Max}}, State};
        _ ->
            Token = integer_to_binary(N),
            ReplyTo = <<(State#state.inbox)/binary, ".", Token/binary>>,
            Frame = case Headers of
                        [] -> tally_nats_proto:pub(Subject, ReplyTo, Payload);
                        _ -> tally_nats_proto:hpub(Subject, ReplyTo, Headers, Payload)
                    end,
            case send(State, Frame) of
                ok ->
                    Timer = erlang:send_after(Timeout, self(), {request_timeout, Token}),
                    {noreply, State#state{next_token = N + 1,
                                          requests = maps:put(Token, {From, Timer}, State#state.requests)}};
                {error, Reason} ->
                    {reply, {error, {send, Reason}}, disconnected(Reason, State)}
            end
    end;
handle_call({subscribe, Subject, Pid}, _From, #state{next_sid = N} = State) ->
    Sid = integer_to_binary(N),
    _ = State#state.socket =/= none andalso send(State, tally_nats_proto:sub(Subject, Sid)),
    {reply, {ok, Sid}, State#state{next_sid = N + 1, subs = maps:put(Sid, {Subject, Pid}, State#state.subs)}};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(connect, #state{socket = none} = State) ->
    case open(State) of
        {ok, Transport, Socket, Rest, Info} ->
            logger:notice(#{msg => "nats connected", host => host(State), port => port(State),
                            tls => Transport =:= ssl}),
            Conn = make_ref(),
            erlang:send_after(ping_interval(State), self(), {keepalive, Conn}),
            Max = case maps:get(<<"max_payload">>, Info, none) of
                      M when is_integer(M), M > 0 -> M;
                      _ -> 1048576
                  end,
            handle_bytes(Rest, State#state{transport = Transport, socket = Socket, backoff = ?BACKOFF_MIN,
                                           pings_out = 0, pending = [], have = 0, need = 0, conn = Conn,
                                           max_payload = Max});
        {error, Reason} ->
            {noreply, retry_later(Reason, State)}
    end;
handle_info({Tag, Socket, Bytes}, #state{socket = Socket} = State) when Tag =:= tcp; Tag =:= ssl ->
    case setopts(State, [{active, once}]) of
        ok -> handle_bytes(Bytes, State);
        {error, Reason} -> {noreply, disconnected(Reason, State)}
    end;
handle_info({Tag, Socket}, #state{socket = Socket} = State) when Tag =:= tcp_closed; Tag =:= ssl_closed ->
    {noreply, disconnected(closed, State)};
handle_info({Tag, Socket, Reason}, #state{socket = Socket} = State) when Tag =:= tcp_error; Tag =:= ssl_error ->
    {noreply, disconnected(Reason, State)};
handle_info({keepalive, Conn}, #state{socket = Socket, conn = Current} = State)
  when Socket =:= none; Conn =/= Current ->
    {noreply, State};  % a timer of a connection that is gone
handle_info({keepalive, _}, #state{pings_out = Out} = State) when Out >= ?MAX_PINGS_OUT ->
    {noreply, disconnected(stale_connection, State)};
handle_info({keepalive, Conn}, #state{pings_out = Out} = State) ->
    erlang:send_after(ping_interval(State), self(), {keepalive, Conn}),
    case send(State, tally_nats_proto:ping()) of
        ok -> {noreply, State#state{pings_out = Out + 1}};
        {error, Reason} -> {noreply, disconnected(Reason, State)}
    end;
handle_info({request_timeout, Token}, State) ->
    case maps:take(Token, State#state.requests) of
        {{From, _}, Rest} ->
            gen_server:reply(From, {error, timeout}),
            {noreply, State#state{requests = Rest}};
        error ->
            {noreply, State}
    end;
handle_info(_Other, State) ->
    {noreply, State}.

-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{socket = none}) -> ok;
terminate(_Reason, #state{transport = T, socket = Socket}) -> _ = T:close(Socket), ok.

%%% Connection

host(#state{opts = Opts}) -> maps:get(host, Opts, "127.0.0.1").
port(#state{opts = Opts}) -> maps:get(port, Opts, 4222).
ping_interval(#state{opts = Opts}) -> maps:get(ping_interval, Opts, ?PING_INTERVAL).

send(#state{transport = T, socket = Socket}, Data) -> T:send(Socket, Data).

setopts(#state{transport = gen_tcp, socket = Socket}, Opts) -> inet:setopts(Socket, Opts);
setopts(#state{transport = ssl, socket = Socket}, Opts) -> ssl:setopts(Socket, Opts).

%% Connects and reads INFO; upgrades to TLS when the server requires it or
%% it is configured (refusing when it cannot be had); sends CONNECT and PING
%% and waits for PONG, so a refused login is seen here; then subscribes the
%% inbox and every subscription again. Returns bytes read past the PONG.
open(#state{opts = Opts} = State) ->
    Deadline = erlang:monotonic_time(millisecond) + ?CONNECT_TIMEOUT,
    case gen_tcp:connect(host(State), port(State), [binary, {active, false}, {nodelay, true}], ?CONNECT_TIMEOUT) of
        {ok, Tcp} ->
            Result = case await(gen_tcp, Tcp, info, <<>>, Deadline) of
                         {ok, {info, Info}, Rest0} ->
                             case secure(Tcp, Info, State, Deadline) of
                                 {ok, Transport, Socket} ->
                                     login(Transport, Socket, Info, Rest0, Opts, State, Deadline);
                                 {error, _} = Error ->
                                     Error
                             end;
                         Error ->
                             Error
                     end,
            case Result of
                {ok, _, _, _, _} -> ok;
                _ -> gen_tcp:close(Tcp)
            end,
            Result;
        {error, _} = Error ->
            Error
    end.

login(Transport, Socket, Info, Rest0, Opts, State, Deadline) ->
    Connect = tally_nats_proto:connect(#{auth => maps:get(auth, Opts, none), tls => Transport =:= ssl,
                                         name => maps:get(name, Opts, <<"tally">>)}),
    Subs = [tally_nats_proto:sub(<<(State#state.inbox)/binary, ".*">>, <<"1">>)
            | [tally_nats_proto:sub(Subject, Sid) || {Sid, {Subject, _}} <- maps:to_list(State#state.subs)]],
    Sent = Transport:send(Socket, [Connect, tally_nats_proto:ping()]),
    Result = case Sent =:= ok andalso await(Transport, Socket, pong, Rest0, Deadline) of
                 {ok, pong, Rest1} ->
                     case Transport:send(Socket, Subs) of
                         ok -> {ok, Transport, Socket, Rest1, Info};
                         Error -> Error
                     end;
                 false -> Sent;
                 Error -> Error
             end,
    _ = case Result of
            {ok, _, _, _, _} when Transport =:= ssl -> ok = ssl:setopts(Socket, [{active, once}]);
            {ok, _, _, _, _} -> ok = inet:setopts(Socket, [{active, once}]);
            _ when Transport =:= ssl -> ssl:close(Socket);
            _ -> ok
        end,
    Result.

%% TLS when the server asks for it (tls_required) or it is configured; a
%% configured TLS the server does not offer is refused before any
%% credential is sent.
secure(Tcp, Info, #state{opts = Opts} = State, Deadline) ->
    Required = maps:get(<<"tls_required">>, Info, false) =:= true,
    Offered = Required orelse maps:get(<<"tls_available">>, Info, false) =:= true,
    case {maps:get(tls, Opts, false), Required, Offered} of
        {false, false, _} ->
            {ok, gen_tcp, Tcp};
        {Tls, _, true} ->
            case tls_options(Tls, host(State)) of
                {ok, SslOpts} ->
                    {ok, _} = application:ensure_all_started(ssl),
                    Left = max(1, Deadline - erlang:monotonic_time(millisecond)),
                    case ssl:connect(Tcp, SslOpts, Left) of
                        {ok, Ssl} -> {ok, ssl, Ssl};
                        {error, Reason} -> {error, {tls, Reason}}
                    end;
                {error, _} = Error ->
                    Error
            end;
        {_, false, false} ->
            {error, {tls, <<"TLS is configured but the server does not offer it">>}}
    end.

%% The ssl options: the server verified against the CA file (or the
%% system's CAs) with its host name checked, and a client certificate
%% when one is configured.
tls_options(Tls, Host) ->
    Config = case Tls of #{} -> Tls; _ -> #{} end,
    CA = case maps:find(cacertfile, Config) of
             {ok, File} -> {ok, [{cacertfile, File}]};
             error ->
                 try {ok, [{cacerts, public_key:cacerts_get()}]}
                 catch _:_ -> {error, {tls, <<"no CA file configured and no system CA certificates">>}}
                 end
         end,
    Name = case maps:find(server_name, Config) of
               {ok, N} -> N;
               error when is_list(Host) -> Host;
               error -> none
           end,
    Check = case Name of
                none -> [{server_name_indication, disable}];
                _ -> [{server_name_indication, Name},
                      {customize_hostname_check, [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]}]
            end,
    Client = [{certfile, F} || {ok, F} <- [maps:find(certfile, Config)]]
             ++ [{keyfile, F} || {ok, F} <- [maps:find(keyfile, Config)]],
    case CA of
        {ok, CAOpts} -> {ok, [binary, {active, false}, {verify, verify_peer}, {depth, 10}] ++ CAOpts ++ Check ++ Client};
        Error -> Error
    end.

%% Reads until the wanted message; -ERR (a refused login) ends the wait.
await(Transport, Socket, Want, Buffer, Deadline) ->
    case tally_nats_proto:parse(Buffer) of
        {ok, Msgs, Rest} ->
            case lists:splitwith(fun(M) -> not is_wanted(Want, M) end, Msgs) of
                {Before, [Wanted | After]} ->
                    case [E || {err, E} <- Before] of
                        [] -> {ok, Wanted, iolist_to_binary([reencode(M) || M <- After] ++ [Rest])};
                        [E | _] -> {error, {server, E}}
                    end;
                {Before, []} ->
                    case [E || {err, E} <- Before] of
                        [E | _] -> {error, {server, E}};
                        [] ->
                            Left = Deadline - erlang:monotonic_time(millisecond),
                            case Left > 0 andalso Transport:recv(Socket, 0, Left) of
                                {ok, More} -> await(Transport, Socket, Want, <<Rest/binary, More/binary>>, Deadline);
                                {error, Reason} -> {error, Reason};
                                false -> {error, connect_timeout}
                            end
                    end
            end;
        {error, Why} ->
            {error, {protocol, Why}}
    end.

is_wanted(info, {info, _}) -> true;
is_wanted(pong, pong) -> true;
is_wanted(_, _) -> false.

%% Nothing but PING and +OK can follow the PONG this early; keep PINGs.
reencode(ping) -> tally_nats_proto:ping();
reencode(_) -> <<>>.

%% Incoming bytes wait in `pending` until the frame they belong to is
%% whole (its size is known from its control line), so a big message is
%% put together once, not copied again with every piece of it.
handle_bytes(<<>>, State) ->
    {noreply, State};
handle_bytes(Bytes, #state{pending = Pending, have = Have0, need = Need} = State) ->
    Have = Have0 + byte_size(Bytes),
    case Have < Need of
        true ->
            {noreply, State#state{pending = [Bytes | Pending], have = Have}};
        false ->
            Buffer = iolist_to_binary(lists:reverse([Bytes | Pending])),
            case tally_nats_proto:parse(Buffer, max_in(State)) of
                {ok, Msgs, Rest0} ->
                    Rest = binary:copy(Rest0),
                    State1 = State#state{pending = [Rest || Rest =/= <<>>], have = byte_size(Rest),
                                         need = tally_nats_proto:frame_size(Rest)},
                    {noreply, lists:foldl(fun handle_msg/2, State1, Msgs)};
                {error, Why} ->
                    logger:warning(#{msg => "nats protocol error, reconnecting", reason => Why,
                                     host => host(State), port => port(State)}),
                    {noreply, disconnected({protocol, Why}, State)}
            end
    end.

%% The most a server may send in one message: well above any reply tally
%% asks for, far below what would exhaust memory.
max_in(#state{max_payload = Max}) -> max(Max, 64 * 1024 * 1024).

handle_msg(_Msg, #state{socket = none} = State) ->
    State;
handle_msg(ping, State) ->
    _ = send(State, tally_nats_proto:pong()),
    State;
handle_msg(pong, State) ->
    State#state{pings_out = 0};
handle_msg({err, Text}, State) ->
    logger:error(#{msg => "nats server error", error => Text, host => host(State), port => port(State)}),
    State;
handle_msg({msg, Subject, Sid, _ReplyTo, Payload}, State) ->
    deliver(Subject, Sid, {none, []}, Payload, State);
handle_msg({hmsg, Subject, Sid, _ReplyTo, Headers, Payload}, State) ->
    deliver(Subject, Sid, Headers, Payload, State);
handle_msg(_Other, State) ->
    State.

%% Inbox replies (sid 1) go to the waiting caller; others to subscribers.
deliver(Subject, <<"1">>, {Status, Headers}, Payload, State) ->
    Token = lists:last(binary:split(Subject, <<".">>, [global])),
    case maps:take(Token, State#state.requests) of
        {{From, Timer}, Rest} ->
            _ = erlang:cancel_timer(Timer),
            Hs = case Status of none -> Headers; _ -> [{status, Status} | Headers] end,
            gen_server:reply(From, {ok, {Hs, Payload}}),
            State#state{requests = Rest};
        error ->
            State
    end;
deliver(Subject, Sid, {_Status, Headers}, Payload, State) ->
    _ = case maps:find(Sid, State#state.subs) of
            {ok, {_, Pid}} -> Pid ! {nats_msg, Sid, Subject, Headers, Payload};
            error -> ok
        end,
    State.

%% The connection is gone: every waiting request fails now (its message may
%% or may not have reached the server; JetStream's dedup makes a retry safe).
disconnected(Reason, #state{socket = Socket, transport = T} = State) ->
    _ = Socket =/= none andalso T:close(Socket),
    logger:warning(#{msg => "nats disconnected", reason => Reason}),
    _ = [begin _ = erlang:cancel_timer(Timer), gen_server:reply(F, {error, disconnected}) end
         || {F, Timer} <- maps:values(State#state.requests)],
    retry_later(Reason, State#state{socket = none, transport = gen_tcp, requests = #{},
                                    pending = [], have = 0, need = 0}).

%% A refused login or TLS failure is an operator's problem: logged as an
%% error with the server's own words; a server that is away is routine.
retry_later(Reason, #state{backoff = Backoff} = State) ->
    Delay = Backoff div 2 + rand:uniform(Backoff),  % jitter: 0.5x to 1.5x
    Report = #{msg => "nats reconnecting", reason => Reason, in_ms => Delay,
               host => host(State), port => port(State)},
    case Reason of
        {server, Text} -> logger:error(Report#{msg => "nats server refused the connection", error => Text});
        {tls, _} -> logger:error(Report#{msg => "nats TLS failed"});
        {protocol, _} -> logger:warning(Report);
        _ -> logger:info(Report)
    end,
    erlang:send_after(Delay, self(), connect),
    State#state{backoff = min(Backoff * 2, ?BACKOFF_MAX)}.
