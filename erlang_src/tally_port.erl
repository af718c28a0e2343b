%% @doc Owner of one tally_port OS process (native/port).
%%
%% Callers send `{Op, Args}` requests; the owner tags each with an integer
%% id, writes it as a `{packet,4}` frame of External Term Format, and
%% replies to the caller when the frame with that id comes back. Replies
%% are decoded with `binary_to_term(Bin, [safe])`, so the port can never
%% make the VM create an atom. When the OS process exits every caller in
%% flight gets `{error, {port_exited, Status}}` and the owner stops (its
%% supervisor restarts it). Closing the port closes the process's stdin,
%% and the process exits on end of file: it never outlives its owner.
-module(tally_port).
-behaviour(gen_server).

-export([start_link/1, start/1, start_for_gleam/1, call/3, call/4, stop/1, os_pid/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(EXECUTABLE, "tally_port").
-define(DEFAULT_TIMEOUT, 5000).
-define(DEFAULT_MAX_FRAME, 64 * 1024 * 1024).

-type options() :: #{timeout => pos_integer(),
                     max_frame => pos_integer(),
                     executable => file:filename(),
                     name => atom()}.

-record(state, {port :: port(),
                os_pid :: non_neg_integer(),
                next_id = 1 :: pos_integer(),
                %% Id => {Caller, Timer}
                pending = #{} :: #{pos_integer() => {gen_server:from(), reference()}},
                timeout :: pos_integer(),
                max_frame :: pos_integer()}).

%%% API

-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(#{name := Name} = Opts) ->
    gen_server:start_link({local, Name}, ?MODULE, Opts, []);
start_link(Opts) ->
    gen_server:start_link(?MODULE, Opts, []).

-spec start(options()) -> {ok, pid()} | {error, term()}.
start(Opts) ->
    gen_server:start(?MODULE, Opts, []).

%% For tally/port.gleam: errors in the shape of engine.EngineError.
-spec start_for_gleam(pos_integer()) -> {ok, pid()} | {error, {port_start_failed, binary()}}.
start_for_gleam(TimeoutMs) ->
    case start(#{timeout => TimeoutMs}) of
        {ok, Pid} -> {ok, Pid};
        {error, Reason} -> {error, {port_start_failed, format_reason(Reason)}}
    end.

%% Sends one request and waits for its reply (or the owner's timeout).
-spec call(pid() | atom(), atom(), tuple()) -> {ok, term()} | {error, term()}.
call(Owner, Op, Args) ->
    gen_server:call(Owner, {request, Op, Args}, infinity).

-spec call(pid() | atom(), atom(), tuple(), timeout()) -> {ok, term()} | {error, term()}.
call(Owner, Op, Args, Timeout) ->
    gen_server:call(Owner, {request, Op, Args, Timeout}, infinity).

-spec stop(pid() | atom()) -> nil.
stop(Owner) ->
    ok = gen_server:stop(Owner),
    nil.

-spec os_pid(pid() | atom()) -> non_neg_integer().
os_pid(Owner) ->
    gen_server:call(Owner, os_pid).

%%% gen_server

-spec init(options()) -> {ok, #state{}} | {stop, term()}.
init(Opts) ->
    Exe = maps:get(executable, Opts, tally_priv:path(?EXECUTABLE)),
    case filelib:is_regular(Exe) of
        false ->
            {stop, {no_executable, Exe}};
        true ->
            Port = open_port({spawn_executable, Exe},
                             [{packet, 4}, binary, exit_status, use_stdio]),
            {os_pid, OsPid} = erlang:port_info(Port, os_pid),
            {ok, #state{port = Port,
                        os_pid = OsPid,
                        timeout = maps:get(timeout, Opts, ?DEFAULT_TIMEOUT),
                        max_frame = maps:get(max_frame, Opts, ?DEFAULT_MAX_FRAME)}}
    end.

-spec handle_call(term(), gen_server:from(), #state{}) ->
          {noreply, #state{}} | {reply, term(), #state{}}.
handle_call({request, Op, Args}, From, State) when is_atom(Op), is_tuple(Args) ->
    {noreply, send_request(Op, Args, From, State#state.timeout, State)};
handle_call({request, Op, Args, Timeout}, From, State) when is_atom(Op), is_tuple(Args) ->
    {noreply, send_request(Op, Args, From, Timeout, State)};
handle_call(os_pid, _From, State) ->
    {reply, State#state.os_pid, State};
handle_call(_Other, _From, State) ->
    {reply, {error, {bad_request, <<"unknown call">>}}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_info({Port, {data, Frame}}, #state{port = Port} = State) ->
    handle_frame(Frame, State);
handle_info({Port, {exit_status, Status}}, #state{port = Port, pending = Pending} = State) ->
    logger:warning(#{msg => "tally_port exited", status => Status, os_pid => State#state.os_pid}),
    _ = [reply_pending(Entry, {error, {port_exited, Status}}) || Entry <- maps:values(Pending)],
    {stop, {port_exited, Status}, State#state{pending = #{}}};
handle_info({request_timeout, Id}, #state{pending = Pending} = State) ->
    case maps:take(Id, Pending) of
        {{From, _Timer}, Rest} ->
            gen_server:reply(From, {error, timeout}),
            {noreply, State#state{pending = Rest}};
        error ->
            {noreply, State}
    end;
handle_info(_Other, State) ->
    {noreply, State}.

-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{port = Port}) ->
    catch port_close(Port),
    ok.

%%% Internal

send_request(Op, Args, From, Timeout, #state{port = Port, next_id = Id} = State) ->
    true = port_command(Port, term_to_binary({Id, Op, Args})),
    Timer = erlang:send_after(Timeout, self(), {request_timeout, Id}),
    State#state{next_id = Id + 1,
                pending = maps:put(Id, {From, Timer}, State#state.pending)}.

handle_frame(Frame, #state{max_frame = Max} = State) when byte_size(Frame) > Max ->
    fail_all({bad_reply, <<"reply frame over the size limit">>}, State);
handle_frame(Frame, #state{pending = Pending} = State) ->
    case decode(Frame) of
        {ok, {Id, Result}} when is_integer(Id) ->
            case maps:take(Id, Pending) of
                {Entry, Rest} ->
                    reply_pending(Entry, Result),
                    {noreply, State#state{pending = Rest}};
                error ->
                    %% Its caller already timed out; or id 0: a frame the port could not read.
                    logger:notice(#{msg => "tally_port reply without a caller", id => Id, reply => Result}),
                    {noreply, State}
            end;
        {ok, _Other} ->
            fail_all({bad_reply, <<"reply is not {Id, Result}">>}, State);
        {error, Detail} ->
            fail_all({bad_reply, Detail}, State)
    end.

decode(Frame) ->
    try
        {ok, binary_to_term(Frame, [safe])}
    catch
        error:badarg -> {error, <<"reply is not a safe term">>}
    end.

%% The reply stream can no longer be trusted: fail every caller and stop,
%% so the supervisor starts a fresh port.
fail_all(Error, #state{pending = Pending} = State) ->
    _ = [reply_pending(Entry, {error, Error}) || Entry <- maps:values(Pending)],
    {stop, Error, State#state{pending = #{}}}.

reply_pending({From, Timer}, Reply) ->
    _ = erlang:cancel_timer(Timer),
    gen_server:reply(From, Reply).

format_reason(Reason) ->
    unicode:characters_to_binary(io_lib:format("~p", [Reason])).
