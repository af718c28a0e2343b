%% @doc A NATS client for tally: one TCP connection, CONNECT with user and
%% password or a token, PING/PONG keepalive, reconnection with exponential
%% backoff and jitter, subscriptions, request/reply through one wildcard
%% inbox, and JetStream publishing with `Nats-Msg-Id` (the server drops a
%% message whose id it saw within the stream's duplicate window).
%%
%% The protocol itself is tally_nats_proto (pure); this process only moves
%% bytes and keeps track of who waits for what. While disconnected, calls
%% fail at once with `{error, not_connected}`: the caller (the publisher)
%% owns its retry policy, and no request waits on a dead socket.
-module(tally_nats).
-behaviour(gen_server).

-export([start_link/1, request/5, js_publish/4, create_stream/3, subscribe/3, is_connected/1, stop/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(CONNECT_TIMEOUT, 5000).
-define(PING_INTERVAL, 5000).
-define(MAX_PINGS_OUT, 2).
-define(BACKOFF_MIN, 100).
-define(BACKOFF_MAX, 5000).

-type options() :: #{host => inet:hostname() | inet:ip_address(),
                     port => inet:port_number(),
                     auth => none | {user, binary(), binary()} | {token, binary()},
                     name => binary(),
                     ping_interval => pos_integer()}.
-export_type([options/0]).

-record(state, {opts :: options(),
                socket = none :: gen_tcp:socket() | none,
                buffer = <<>> :: binary(),
                inbox :: binary(),
                next_token = 1 :: pos_integer(),
                %% reply token => caller
                requests = #{} :: #{binary() => {gen_server:from(), reference()}},
                %% sid => {subject, subscriber}
                subs = #{} :: #{binary() => {binary(), pid()}},
                next_sid = 2 :: pos_integer(),
                pings_out = 0 :: non_neg_integer(),
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

%% Publishes with a reply inbox and waits for the first reply.
-spec request(pid(), binary(), tally_nats_proto:headers(), iodata(), timeout()) ->
          {ok, {tally_nats_proto:headers(), binary()}} | {error, term()}.
request(Client, Subject, Headers, Payload, Timeout) ->
    gen_server:call(Client, {request, Subject, Headers, Payload, Timeout}, infinity).

%% Publishes to a JetStream stream's subject and waits for the stream's
%% acknowledgement: `{ok, #{stream, seq, duplicate}}` once it is stored.
-spec js_publish(pid(), binary(), binary(), iodata()) -> {ok, map()} | {error, term()}.
js_publish(Client, Subject, MsgId, Payload) ->
    case request(Client, Subject, [{<<"Nats-Msg-Id">>, MsgId}], Payload, 5000) of
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
init(Opts) ->
    Inbox = <<"_INBOX.", (binary:encode_hex(crypto:strong_rand_bytes(8)))/binary>>,
    self() ! connect,
    {ok, #state{opts = Opts, inbox = Inbox}}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}} | {noreply, #state{}}.
handle_call(is_connected, _From, State) ->
    {reply, State#state.socket =/= none, State};
handle_call({request, _, _, _, _}, _From, #state{socket = none} = State) ->
    {reply, {error, not_connected}, State};
handle_call({request, Subject, Headers, Payload, Timeout}, From, #state{next_token = N} = State) ->
    Token = integer_to_binary(N),
    ReplyTo = <<(State#state.inbox)/binary, ".", Token/binary>>,
    Frame = case Headers of
                [] -> tally_nats_proto:pub(Subject, ReplyTo, Payload);
                _ -> tally_nats_proto:hpub(Subject, ReplyTo, Headers, Payload)
            end,
    case gen_tcp:send(State#state.socket, Frame) of
        ok ->
            Timer = erlang:send_after(Timeout, self(), {request_timeout, Token}),
            {noreply, State#state{next_token = N + 1,
                                  requests = maps:put(Token, {From, Timer}, State#state.requests)}};
        {error, Reason} ->
            {reply, {error, {send, Reason}}, disconnected(Reason, State)}
    end;
handle_call({subscribe, Subject, Pid}, _From, #state{next_sid = N} = State) ->
    Sid = integer_to_binary(N),
    _ = State#state.socket =/= none andalso gen_tcp:send(State#state.socket, tally_nats_proto:sub(Subject, Sid)),
    {reply, {ok, Sid}, State#state{next_sid = N + 1, subs = maps:put(Sid, {Subject, Pid}, State#state.subs)}};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(connect, #state{socket = none} = State) ->
    case open(State) of
        {ok, Socket, Rest} ->
            logger:notice(#{msg => "nats connected", host => host(State), port => port(State)}),
            erlang:send_after(ping_interval(State), self(), keepalive),
            handle_bytes(Rest, State#state{socket = Socket, backoff = ?BACKOFF_MIN, pings_out = 0, buffer = <<>>});
        {error, Reason} ->
            {noreply, retry_later(Reason, State)}
    end;
handle_info({tcp, Socket, Bytes}, #state{socket = Socket} = State) ->
    ok = inet:setopts(Socket, [{active, once}]),
    handle_bytes(Bytes, State);
handle_info({tcp_closed, Socket}, #state{socket = Socket} = State) ->
    {noreply, disconnected(closed, State)};
handle_info({tcp_error, Socket, Reason}, #state{socket = Socket} = State) ->
    {noreply, disconnected(Reason, State)};
handle_info(keepalive, #state{socket = none} = State) ->
    {noreply, State};
handle_info(keepalive, #state{pings_out = Out} = State) when Out >= ?MAX_PINGS_OUT ->
    {noreply, disconnected(stale_connection, State)};
handle_info(keepalive, #state{socket = Socket, pings_out = Out} = State) ->
    erlang:send_after(ping_interval(State), self(), keepalive),
    case gen_tcp:send(Socket, tally_nats_proto:ping()) of
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
terminate(_Reason, #state{socket = Socket}) -> gen_tcp:close(Socket).

%%% Connection

host(#state{opts = Opts}) -> maps:get(host, Opts, "127.0.0.1").
port(#state{opts = Opts}) -> maps:get(port, Opts, 4222).
ping_interval(#state{opts = Opts}) -> maps:get(ping_interval, Opts, ?PING_INTERVAL).

%% Connects, reads INFO, sends CONNECT and PING and waits for PONG, so a
%% refused login is seen here; then subscribes the inbox and every
%% subscription again. Returns bytes read past the PONG.
open(#state{opts = Opts} = State) ->
    Deadline = erlang:monotonic_time(millisecond) + ?CONNECT_TIMEOUT,
    case gen_tcp:connect(host(State), port(State), [binary, {active, false}, {nodelay, true}], ?CONNECT_TIMEOUT) of
        {ok, Socket} ->
            Connect = tally_nats_proto:connect(#{auth => maps:get(auth, Opts, none),
                                                 name => maps:get(name, Opts, <<"tally">>)}),
            Subs = [tally_nats_proto:sub(<<(State#state.inbox)/binary, ".*">>, <<"1">>)
                    | [tally_nats_proto:sub(Subject, Sid) || {Sid, {Subject, _}} <- maps:to_list(State#state.subs)]],
            Result = case await(Socket, info, <<>>, Deadline) of
                         {ok, Rest0} ->
                             ok = gen_tcp:send(Socket, [Connect, tally_nats_proto:ping()]),
                             case await(Socket, pong, Rest0, Deadline) of
                                 {ok, Rest1} -> ok = gen_tcp:send(Socket, Subs), {ok, Socket, Rest1};
                                 Error -> Error
                             end;
                         Error ->
                             Error
                     end,
            case Result of
                {ok, _, _} -> ok = inet:setopts(Socket, [{active, once}]);
                _ -> gen_tcp:close(Socket)
            end,
            Result;
        {error, _} = Error ->
            Error
    end.

%% Reads until the wanted message; -ERR (a refused login) ends the wait.
await(Socket, Want, Buffer, Deadline) ->
    case tally_nats_proto:parse(Buffer) of
        {ok, Msgs, Rest} ->
            case lists:splitwith(fun(M) -> not is_wanted(Want, M) end, Msgs) of
                {Before, [_ | After]} ->
                    case [E || {err, E} <- Before] of
                        [] -> {ok, iolist_to_binary([reencode(M) || M <- After] ++ [Rest])};
                        [E | _] -> {error, {server, E}}
                    end;
                {Before, []} ->
                    case [E || {err, E} <- Before] of
                        [E | _] -> {error, {server, E}};
                        [] ->
                            Left = Deadline - erlang:monotonic_time(millisecond),
                            case Left > 0 andalso gen_tcp:recv(Socket, 0, Left) of
                                {ok, More} -> await(Socket, Want, <<Rest/binary, More/binary>>, Deadline);
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

handle_bytes(Bytes, #state{buffer = Buffer} = State) ->
    case tally_nats_proto:parse(<<Buffer/binary, Bytes/binary>>) of
        {ok, Msgs, Rest} ->
            {noreply, lists:foldl(fun handle_msg/2, State#state{buffer = Rest}, Msgs)};
        {error, Why} ->
            logger:warning(#{msg => "nats protocol error", reason => Why}),
            {noreply, disconnected({protocol, Why}, State)}
    end.

handle_msg(_Msg, #state{socket = none} = State) ->
    State;
handle_msg(ping, State) ->
    _ = gen_tcp:send(State#state.socket, tally_nats_proto:pong()),
    State;
handle_msg(pong, State) ->
    State#state{pings_out = 0};
handle_msg({err, Text}, State) ->
    logger:warning(#{msg => "nats server error", error => Text}),
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
    case maps:find(Sid, State#state.subs) of
        {ok, {_, Pid}} -> Pid ! {nats_msg, Sid, Subject, Headers, Payload};
        error -> ok
    end,
    State.

%% The connection is gone: every waiting request fails now (its message may
%% or may not have reached the server; JetStream's dedup makes a retry safe).
disconnected(Reason, #state{socket = Socket} = State) ->
    _ = Socket =/= none andalso gen_tcp:close(Socket),
    logger:warning(#{msg => "nats disconnected", reason => Reason}),
    _ = [begin erlang:cancel_timer(T), gen_server:reply(F, {error, disconnected}) end
         || {F, T} <- maps:values(State#state.requests)],
    retry_later(Reason, State#state{socket = none, requests = #{}, buffer = <<>>}).

retry_later(Reason, #state{backoff = Backoff} = State) ->
    Delay = Backoff div 2 + rand:uniform(Backoff),  % jitter: 0.5x to 1.5x
    logger:info(#{msg => "nats reconnecting", reason => Reason, in_ms => Delay}),
    erlang:send_after(Delay, self(), connect),
    State#state{backoff = min(Backoff * 2, ?BACKOFF_MAX)}.
