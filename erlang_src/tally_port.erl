%% @doc Owner of one tally_port OS process (native/port).
%%
%% Callers send `{Op, Args}` requests; the owner tags each with an integer
%% id, writes it as a `{packet,4}` frame of External Term Format, and
%% replies to the caller when the frame with that id comes back. Replies
%% are decoded with `binary_to_term(Bin, [safe])`, so the port can never
%% make the VM create an atom, and refused over `max_frame` bytes.
%%
%% Back-pressure: at most `max_in_flight` requests are in the port at once;
%% further callers wait (each caller has one call outstanding, so the queue
%% is bounded by the callers). Every request has a timeout, counted from
%% the call.
%%
%% Handles: parsers and aggregators in the port are known to callers by
%% logical handles, which this owner maps to the current OS process's own.
%% Every state-changing operation that succeeded is journaled
%% (tally_port_log), with periodic checkpoints of every handle's exported
%% state. When the OS process dies, every caller in flight gets
%% `{error, {port_exited, Status}}` and the owner stops; its supervisor
%% starts a new one, which rebuilds every handle from the checkpoint plus
%% the journal, so totals stay exact. Closing the port closes the process's
%% stdin, and the process exits on end of file: it never outlives its owner.
-module(tally_port).
-behaviour(gen_server).

-export([start_link/1, start/1, start_supervised/1, start_for_gleam/1, call/3, call/4, stop/1, os_pid/1, stats/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(EXECUTABLE, "tally_port").
-define(DEFAULT_TIMEOUT, 30000).
%% Big enough for any reply the engine makes (an aggregator's export on
%% request); checkpoints do not go through frames.
-define(DEFAULT_MAX_FRAME, 1024 * 1024 * 1024).
-define(DEFAULT_MAX_IN_FLIGHT, 32).
%% A checkpoint is due once this much has been journaled since the last,
%% and no sooner than the journal outgrows `checkpoint_ratio` times the
%% last checkpoint: exporting a big state after every few small requests
%% would cost more than the requests (the cost stays amortized).
-define(CHECKPOINT_OPS, 200).
-define(CHECKPOINT_BYTES, 32 * 1024 * 1024).
-define(CHECKPOINT_RATIO, 2).
-define(REPLAY_TIMEOUT, 60000).

-type options() :: #{timeout => pos_integer(),
                     max_frame => pos_integer(),
                     max_in_flight => pos_integer(),
                     checkpoint_ops => pos_integer(),
                     checkpoint_bytes => pos_integer(),
                     checkpoint_ratio => number(),
                     executable => file:filename(),
                     name => atom(),
                     journal => ets:tid(),
                     restart_intensity => {non_neg_integer(), pos_integer()}}.

-record(req, {from :: gen_server:from() | none | {checkpoint, pos_integer(), parser | {aggregator, file:filename()}},
              op :: atom(),
              args :: tuple(),               % with logical handles
              created = none :: pos_integer() | none,
              seq :: non_neg_integer(),               % 0 while replaying
              timer :: reference() | undefined,
              %% a batch's recipe sent (see wire_args/2)
              recipe_sent = false :: boolean()}).

-record(state, {port :: port(),
                os_pid :: non_neg_integer(),
                next_id = 1 :: pos_integer(),
                pending = #{} :: #{pos_integer() => #req{}},
                waiting = queue:new() :: queue:queue(#req{}),
                max_in_flight :: pos_integer(),
                %% the most requests ever in the port at once (for stats/1)
                peak_in_flight = 0 :: non_neg_integer(),
                checkpoint_ops :: pos_integer(),
                checkpoint_bytes :: pos_integer(),
                checkpoint_ratio :: number(),
                timeout :: pos_integer(),
                max_frame :: pos_integer(),
                journal :: ets:tid(),
                %% logical handle => {physical handle, parser | aggregator}
                handles = #{} :: #{pos_integer() => {pos_integer(), parser | aggregator}},
                %% a checkpoint in progress: its first sequence number, the exports still due, those received
                checkpoint = none :: none | {pos_integer(), non_neg_integer(), #{pos_integer() => {atom(), binary()}}}}).

%%% API

%% A port as callers know it: its supervisor and its journal, where the
%% current owner registers itself, so a reference outlives owner restarts.
-opaque ref() :: {tally_port_ref, pid(), ets:tid()}.
-export_type([ref/0]).

-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(#{name := Name} = Opts) ->
    gen_server:start_link({local, Name}, ?MODULE, Opts, []);
start_link(Opts) ->
    gen_server:start_link(?MODULE, Opts, []).

%% An owner on its own: no supervisor, so nothing rebuilds it.
-spec start(options()) -> {ok, pid()} | {error, term()}.
start(Opts) ->
    gen_server:start(?MODULE, Opts, []).

%% A supervised port (tally/app/port_supervisor), not linked to the caller.
-spec start_supervised(options()) -> {ok, ref()} | {error, term()}.
start_supervised(Opts) ->
    case 'tally@app@port_supervisor':start(maps:remove(name, Opts)) of
        {ok, Sup} ->
            [Owner] = [Pid || {_, Pid, worker, _} <- supervisor:which_children(Sup)],
            {ok, {tally_port_ref, Sup, gen_server:call(Owner, journal)}};
        {error, _} = Error ->
            Error
    end.

%% For tally/port.gleam: errors in the shape of engine.EngineError.
-spec start_for_gleam(pos_integer()) -> {ok, ref()} | {error, tally_values:port_start_failed()}.
start_for_gleam(TimeoutMs) ->
    case start_supervised(#{timeout => TimeoutMs}) of
        {ok, Ref} -> {ok, Ref};
        {error, Reason} -> {error, tally_values:port_start_failed(format_reason(Reason))}
    end.

%% Sends one request and waits for its reply (or the owner's timeout).
-spec call(pid() | atom() | ref(), atom(), tuple()) -> {ok, term()} | {error, term()}.
call(Owner, Op, Args) ->
    call(Owner, Op, Args, default).

%% Through a ref(), a request that never reached a live owner (it was
%% restarting) waits for the next one: that is always safe, since only
%% operations that succeeded are journaled and rebuilt. A request that was
%% in the port when it died fails with `{port_exited, Status}`; its effect
%% is gone with the process, so the caller may send it again.
-spec call(pid() | atom() | ref(), atom(), tuple(), timeout() | default) -> {ok, term()} | {error, term()}.
call({tally_port_ref, _Sup, Journal}, Op, Args, Timeout) when is_atom(Op), is_tuple(Args) ->
    Wait = case Timeout of default -> ?DEFAULT_TIMEOUT; infinity -> ?DEFAULT_TIMEOUT; T -> T end,
    call_current(Journal, {request, Op, Args, Timeout}, erlang:monotonic_time(millisecond) + Wait);
call(Owner, Op, Args, Timeout) when is_atom(Op), is_tuple(Args) ->
    try
        gen_server:call(Owner, {request, Op, Args, Timeout}, infinity)
    catch
        exit:{noproc, _} -> {error, tally_values:port_exited(-1)};
        exit:{Reason, _} = Exit:Stack ->
            %% The owner stopped, or stopped because the port exited: the
            %% request is answered as the port's exit (re-raised otherwise).
            case Reason =:= normal orelse Reason =:= shutdown orelse tally_values:is_port_exited(Reason) of
                true -> {error, tally_values:port_exited(-1)};
                false -> erlang:raise(exit, Exit, Stack)
            end
    end.

call_current(Journal, Request, Deadline) ->
    Retry = fun() ->
                case erlang:monotonic_time(millisecond) >= Deadline of
                    true -> {error, timeout};
                    false -> timer:sleep(5), call_current(Journal, Request, Deadline)
                end
            end,
    case tally_port_log:owner(Journal) of
        {ok, Owner} ->
            try gen_server:call(Owner, Request, infinity)
            catch exit:_ -> Retry()
            end;
        error ->
            %% The whole port was stopped: its table is gone.
            {error, tally_values:port_exited(-1)}
    end.

%% Stops a port: a ref() stops its supervisor, a pid or name its owner.
-spec stop(pid() | atom() | ref()) -> nil.
stop({tally_port_ref, Sup, _Journal}) ->
    Ref = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> nil end;
stop(Owner) ->
    ok = gen_server:stop(Owner),
    nil.

%% What the owner is doing: requests in the port and waiting, the most
%% ever in the port at once, live handles, and the journal since its checkpoint.
-spec stats(pid() | atom() | ref()) -> #{atom() => non_neg_integer()}.
stats(Port) ->
    gen_server:call(owner(Port), stats).

-spec os_pid(pid() | atom() | ref()) -> non_neg_integer().
os_pid(Port) ->
    gen_server:call(owner(Port), os_pid).

%% The owner serving a port now.
owner({tally_port_ref, _Sup, Journal}) ->
    {ok, Owner} = tally_port_log:owner(Journal),
    Owner;
owner(Owner) ->
    Owner.

%%% gen_server

-spec init(options()) -> {ok, #state{}} | {stop, term()}.
init(Opts) ->
    Exe = maps:get(executable, Opts, tally_priv:path(?EXECUTABLE)),
    case filelib:is_regular(Exe) of
        false ->
            {stop, {no_executable, Exe}};
        true ->
            %% To get terminate/2 when the supervisor shuts down (it cleans up).
            process_flag(trap_exit, true),
            %% Every atom a reply can hold must exist before [safe] decoding.
            _ = tally_atoms:all(),
            Port = open_port({spawn_executable, Exe}, [{packet, 4}, binary, exit_status, use_stdio]),
            {os_pid, OsPid} = erlang:port_info(Port, os_pid),
            %% Under its supervisor the journal outlives this owner; alone, it dies with it.
            Journal = case maps:find(journal, Opts) of
                          {ok, J} -> J;
                          error -> tally_port_log:new_table()
                      end,
            State = #state{port = Port, os_pid = OsPid, journal = Journal,
                           timeout = maps:get(timeout, Opts, ?DEFAULT_TIMEOUT),
                           max_frame = maps:get(max_frame, Opts, ?DEFAULT_MAX_FRAME),
                           max_in_flight = maps:get(max_in_flight, Opts, ?DEFAULT_MAX_IN_FLIGHT),
                           checkpoint_ops = maps:get(checkpoint_ops, Opts, ?CHECKPOINT_OPS),
                           checkpoint_bytes = maps:get(checkpoint_bytes, Opts, ?CHECKPOINT_BYTES),
                           checkpoint_ratio = maps:get(checkpoint_ratio, Opts, ?CHECKPOINT_RATIO)},
            case rebuild(State) of
                {ok, Rebuilt} ->
                    ok = tally_port_log:set_owner(Journal, self()),
                    {ok, Rebuilt};
                {error, Reason} -> catch port_close(Port), {stop, {rebuild_failed, Reason}}
            end
    end.

-spec handle_call(term(), gen_server:from(), #state{}) ->
          {noreply, #state{}} | {reply, term(), #state{}}.
handle_call({request, Op, Args, Timeout}, From, State) when is_atom(Op), is_tuple(Args) ->
    Ms = case Timeout of default -> State#state.timeout; T -> T end,
    Created = case tally_port_log:creates_handle(Op) of
                  true -> tally_port_log:next_logical(State#state.journal);
                  false -> none
              end,
    Req = #req{from = From, op = Op, args = Args, created = Created,
               seq = tally_port_log:next_seq(State#state.journal)},
    case physical_args(Req, State) of
        {ok, _} ->
            Timer = erlang:send_after(Ms, self(), {request_timeout, Req#req.seq}),
            {noreply, dispatch(State#state{waiting = queue:in(Req#req{timer = Timer}, State#state.waiting)})};
        {error, _} = Error ->
            {reply, Error, State}
    end;
handle_call(os_pid, _From, State) ->
    {reply, State#state.os_pid, State};
handle_call(stats, _From, #state{journal = J} = State) ->
    {Ops, Bytes} = tally_port_log:size(J),
    {reply, #{in_flight => map_size(State#state.pending),
              waiting => queue:len(State#state.waiting),
              peak_in_flight => State#state.peak_in_flight,
              handles => map_size(State#state.handles),
              journal_ops => Ops, journal_bytes => Bytes}, State};
handle_call(journal, _From, State) ->
    {reply, State#state.journal, State};
handle_call(_Other, _From, State) ->
    {reply, {error, tally_values:bad_request(<<"unknown call">>)}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_info({Port, {data, Frame}}, #state{port = Port} = State) ->
    handle_frame(Frame, State);
handle_info({Port, {exit_status, Status}}, #state{port = Port} = State) ->
    logger:warning(#{msg => "tally_port exited", status => Status, os_pid => State#state.os_pid}),
    fail_everyone({error, tally_values:port_exited(Status)}, State),
    {stop, tally_values:port_exited(Status), State#state{pending = #{}, waiting = queue:new()}};
handle_info({'EXIT', Port, Reason}, #state{port = Port} = State) ->
    %% The port closed without an exit status: a write to the dead process
    %% failed first (epipe). Trapping exits turns this into a message, so it
    %% must end the owner like an exit status does, or callers would wait.
    logger:warning(#{msg => "tally_port closed", reason => Reason, os_pid => State#state.os_pid}),
    fail_everyone({error, tally_values:port_exited(-1)}, State),
    {stop, tally_values:port_exited(-1), State#state{pending = #{}, waiting = queue:new()}};
handle_info({request_timeout, Seq}, State) ->
    {noreply, time_out(Seq, State)};
handle_info(_Other, State) ->
    {noreply, State}.

-spec terminate(term(), #state{}) -> ok.
terminate(Reason, #state{port = Port, journal = J}) ->
    %% Stopped on purpose: nobody will rebuild this port, drop its checkpoint
    %% files. After a crash they are what the next owner rebuilds from.
    OnPurpose = Reason =:= normal orelse Reason =:= shutdown
                orelse (is_tuple(Reason) andalso element(1, Reason) =:= shutdown),
    _ = OnPurpose andalso file:del_dir_r(tally_port_log:checkpoint_dir(J)),
    catch port_close(Port),
    ok.

%%% Requests

%% The request's arguments with logical handles replaced by physical ones.
physical_args(#req{op = Op, args = Args}, #state{handles = Handles}) ->
    lists:foldl(fun(_, {error, _} = E) -> E;
                   (Pos, {ok, A}) ->
                        case maps:find(element(Pos, A), Handles) of
                            {ok, {Physical, _Kind}} -> {ok, setelement(Pos, A, Physical)};
                            error -> {error, tally_values:bad_argument(<<"a live handle">>)}
                        end
                end, {ok, Args}, tally_port_log:handle_args(Op)).

%% What goes through the pipe: a request that uses a batch
%% (tally_port_batch: key and recipe) first goes with the batch's key alone,
%% so the chunk crosses the pipe once (with ingest_chunk) when the port
%% still holds the batch; it is sent again with its recipe only when the
%% port answers `batch_not_held`. The journal keeps the whole request, so a
%% replay in a new process (where every key is stale) parses the recipe.
wire_args(#req{op = aggregator_apply_batch, recipe_sent = false}, {A, Key, _, _, _, _, _}) -> {A, Key};
wire_args(#req{op = batch_events, recipe_sent = false}, {Key, _, _, _, _, _}) -> {Key};
wire_args(_Req, Args) -> Args.

%% Sends waiting requests while the in-flight window has room.
dispatch(#state{pending = Pending, max_in_flight = Max} = State) when map_size(Pending) >= Max ->
    State;
dispatch(State) ->
    case queue:out(State#state.waiting) of
        {empty, _} ->
            State;
        {{value, Req}, Rest} ->
            dispatch(send(Req, State#state{waiting = Rest}))
    end.

send(Req, #state{port = Port, next_id = Id} = State) ->
    case physical_args(Req, State) of
        {ok, Args} ->
            true = port_command(Port, term_to_binary({Id, Req#req.op, wire_args(Req, Args)})),
            Pending = maps:put(Id, Req, State#state.pending),
            State#state{next_id = Id + 1, pending = Pending,
                        peak_in_flight = max(State#state.peak_in_flight, map_size(Pending))};
        {error, _} = Error ->
            %% Its handle was released by a request sent before it.
            reply(Req, Error),
            State
    end.

handle_frame(Frame, #state{max_frame = Max} = State) when byte_size(Frame) > Max ->
    fail_all(tally_values:bad_reply(<<"reply frame over the size limit">>), State);
handle_frame(Frame, State) ->
    case decode(Frame) of
        {ok, {Id, Result}} when is_integer(Id) ->
            case maps:take(Id, State#state.pending) of
                {#req{recipe_sent = false} = Req, Rest} when Result =:= {error, batch_not_held} ->
                    %% The port does not hold the batch (restarted since, or evicted): with its recipe now.
                    {noreply, send(Req#req{recipe_sent = true}, State#state{pending = Rest})};
                {Req, Rest} ->
                    State1 = completed(Req, Result, State#state{pending = Rest}),
                    {noreply, maybe_checkpoint(dispatch(State1))};
                error ->
                    logger:notice(#{msg => "tally_port reply without a request", id => Id, reply => Result}),
                    {noreply, State}
            end;
        {ok, _Other} ->
            fail_all(tally_values:bad_reply(<<"reply is not {Id, Result}">>), State);
        {error, Detail} ->
            fail_all(tally_values:bad_reply(Detail), State)
    end.

%% A request's reply: journal it if it changed the port's state, map new
%% handles to logical ones, and answer the caller.
completed(#req{from = {checkpoint, Logical, Kind}}, Result, State) ->
    checkpoint_part(Logical, Kind, Result, State);
completed(#req{op = Op, created = Created} = Req, {ok, Value} = Result, State) ->
    State1 = case tally_port_log:mutating(Op) of
                 true ->
                     Args = tally_port_log:journal_args(State#state.journal, Op, Req#req.args),
                     ok = tally_port_log:append(State#state.journal,
                                                {Req#req.seq, Op, Args, Created},
                                                erlang:external_size(Args)),
                     track_handles(Req, tally_port_log:created(Op, Value), State);
                 false ->
                     State
             end,
    reply(Req, case Created of none -> Result; _ -> {ok, tally_port_log:with_logical(Op, Value, Created)} end),
    State1;
completed(Req, Result, State) ->
    reply(Req, Result),
    State.

track_handles(#req{created = Created, op = Op}, Physical, State) when Created =/= none ->
    Kind = case Op of parser_new -> parser; parser_import -> parser; _ -> aggregator end,
    State#state{handles = maps:put(Created, {Physical, Kind}, State#state.handles)};
track_handles(#req{op = release, args = {Logical}}, _, State) ->
    State#state{handles = maps:remove(Logical, State#state.handles)};
track_handles(_, _, State) ->
    State.

reply(#req{from = none}, _Result) -> ok;
reply(#req{from = {checkpoint, _, _}}, _Result) -> ok;
reply(#req{from = From, timer = Timer}, Result) ->
    _ = is_reference(Timer) andalso erlang:cancel_timer(Timer),
    gen_server:reply(From, Result).

%% A request past its time: a waiting one is dropped, one in the port keeps
%% its slot (its reply is still journaled) but its caller is answered now.
time_out(Seq, State) ->
    {Timed, Waiting} = lists:partition(fun(R) -> R#req.seq =:= Seq end, queue:to_list(State#state.waiting)),
    _ = [reply(R#req{timer = undefined}, {error, timeout}) || R <- Timed],
    Pending = maps:map(fun(_Id, #req{seq = S, from = From} = R) when S =:= Seq, is_tuple(From), element(1, From) =/= checkpoint ->
                               reply(R#req{timer = undefined}, {error, timeout}),
                               R#req{from = none};
                          (_Id, R) -> R
                       end, State#state.pending),
    State#state{waiting = queue:from_list(Waiting), pending = Pending}.

decode(Frame) ->
    try
        {ok, binary_to_term(Frame, [safe])}
    catch
        error:badarg -> {error, <<"reply is not a safe term">>}
    end.

fail_everyone(Error, #state{pending = Pending, waiting = Waiting}) ->
    _ = [reply(R, Error) || R <- maps:values(Pending)],
    _ = [reply(R, Error) || R <- queue:to_list(Waiting)],
    ok.

%% The reply stream can no longer be trusted: fail every caller and stop,
%% so the supervisor starts a fresh port.
fail_all(Error, State) ->
    fail_everyone({error, Error}, State),
    {stop, Error, State#state{pending = #{}, waiting = queue:new()}}.

%%% Checkpoints

%% Once enough is journaled, export every live handle; the journal entries
%% sent before the exports are then covered by them and dropped.
maybe_checkpoint(#state{checkpoint = none, journal = J, handles = Handles} = State) when map_size(Handles) > 0 ->
    {Ops, Bytes} = tally_port_log:size(J),
    {_, LastSize} = tally_port_log:checkpoint_size(J),
    Due = (Ops >= State#state.checkpoint_ops orelse Bytes >= State#state.checkpoint_bytes)
          andalso Bytes >= State#state.checkpoint_ratio * LastSize,
    case Due of
        true ->
            Seq = tally_port_log:next_seq(J),
            Dir = tally_port_log:checkpoint_dir(J),
            %% Owner-only (tally/app/files' mode): the exports hold billing data.
            {ok, nil} = 'tally@app@files':ensure_dir(unicode:characters_to_binary(filename:join(Dir, "x"))),
            Reqs = [checkpoint_request(Kind, L, Seq, Dir) || {L, {_, Kind}} <- maps:to_list(Handles)],
            %% Exports go first, ahead of waiting callers, so that they cover exactly
            %% what was sent before them.
            lists:foldl(fun send/2, State#state{checkpoint = {Seq, length(Reqs), #{}}}, Reqs);
        false ->
            State
    end;
maybe_checkpoint(State) ->
    State.

%% A parser's state is small and comes back in the reply; an aggregator's
%% can be hundreds of megabytes, so the port writes it to a file.
checkpoint_request(parser, L, Seq, _Dir) ->
    #req{from = {checkpoint, L, parser}, op = parser_export, args = {L}, seq = Seq};
checkpoint_request(aggregator, L, Seq, Dir) ->
    Path = filename:join(Dir, integer_to_list(Seq) ++ "-" ++ integer_to_list(L) ++ ".agg"),
    #req{from = {checkpoint, L, {aggregator, Path}}, op = aggregator_export_to,
         args = {L, unicode:characters_to_binary(Path)}, seq = Seq}.

checkpoint_part(Logical, Kind, {ok, Reply}, #state{checkpoint = {Seq, Due, Got}, journal = J} = State) ->
    Part = case Kind of
               parser -> {parser, Reply};
               {aggregator, Path} -> {aggregator, {file, Path, Reply}}
           end,
    Got1 = maps:put(Logical, Part, Got),
    case Due - 1 of
        0 ->
            Old = tally_port_log:checkpoint_entries(J),
            ok = tally_port_log:checkpoint(J, Seq, Got1),
            %% The previous checkpoint's files are no longer needed.
            _ = [file:delete(P) || {aggregator, {file, P, _}} <- maps:values(Old)],
            State#state{checkpoint = none};
        Left ->
            State#state{checkpoint = {Seq, Left, Got1}}
    end;
checkpoint_part(_Logical, _Kind, Failed, State) ->
    logger:warning(#{msg => "tally_port checkpoint abandoned", reply => Failed}),
    State#state{checkpoint = none}.

%%% Rebuilding after a restart

%% Imports every checkpointed handle, then replays the journal, so the new
%% OS process holds what the dead one held after its last journaled operation.
rebuild(#state{journal = J} = State) ->
    Imported = maps:fold(fun(L, {Kind, Bin}, {ok, S}) ->
                                 {Op, Arg} = case Bin of
                                                 {file, Path, _} -> {aggregator_restore_from, unicode:characters_to_binary(Path)};
                                                 _ when Kind =:= parser -> {parser_import, Bin};
                                                 _ -> {aggregator_restore, Bin}
                                             end,
                                 case sync(Op, {Arg}, S) of
                                     {{ok, Physical}, S1} ->
                                         {ok, S1#state{handles = maps:put(L, {Physical, Kind}, S1#state.handles)}};
                                     {Error, _} -> {error, {import, L, Error}}
                                 end;
                            (_, _, Error) -> Error
                         end, {ok, State}, tally_port_log:checkpoint_entries(J)),
    case Imported of
        {ok, S} -> replay(tally_port_log:entries(J), S);
        Error -> Error
    end.

replay([], State) ->
    {ok, State};
replay([{_Seq, Op, Args, Created} | Rest], State) ->
    Req = #req{from = none, op = Op, args = Args, created = Created, seq = 0},
    case physical_args(Req, State) of
        {ok, Physical} ->
            case sync(Op, Physical, State) of
                {{ok, Value}, S1} -> replay(Rest, track_handles(Req, tally_port_log:created(Op, Value), S1));
                {Error, _} -> {error, {replay, Op, Error}}
            end;
        Error ->
            {error, {replay, Op, Error}}
    end.

%% One request, answered before anything else is done (used while starting).
%% The OS process may die here too (killed again while it is rebuilt): a
%% write to it then fails (the port closes with `epipe`, an 'EXIT' message
%% since the owner traps exits) or it reports its exit status; either ends
%% the rebuild at once, and the supervisor starts the next one.
sync(Op, Args, #state{port = Port, next_id = Id} = State) ->
    try port_command(Port, term_to_binary({Id, Op, Args})) of
        true -> sync_reply(Id, State)
    catch
        error:badarg -> {{error, tally_values:port_exited(-1)}, State}
    end.

sync_reply(Id, #state{port = Port} = State) ->
    receive
        {Port, {data, Frame}} ->
            case decode(Frame) of
                {ok, {Id, Result}} -> {Result, State#state{next_id = Id + 1}};
                {ok, _} -> {{error, tally_values:bad_reply(<<"reply is not {Id, Result} for the request sent">>)}, State};
                {error, Detail} -> {{error, tally_values:bad_reply(Detail)}, State}
            end;
        {Port, {exit_status, Status}} ->
            {{error, tally_values:port_exited(Status)}, State};
        {'EXIT', Port, _Reason} ->
            {{error, tally_values:port_exited(-1)}, State}
    after ?REPLAY_TIMEOUT ->
        %% One request of the replay is never this slow: the port is hung.
        {{error, timeout}, State}
    end.

format_reason(Reason) ->
    unicode:characters_to_binary(io_lib:format("~p", [Reason])).
