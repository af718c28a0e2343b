%% @doc An aggregator process: the usage of one shard of customers (a
%% customer's shard is `tally_core::shard::shard_of`). Collectors hand it
%% parsed events with the position in their source that those events reach;
%% it applies them, and its snapshot (the aggregator's export plus those
%% positions) is written to disk every `snapshot_ms` and at period close.
%% A restarted shard restores from its snapshot; collectors resume from the
%% lowest position any shard holds, and the events some shards see twice
%% are dropped by the aggregator's deduplication, so a crash neither loses
%% nor double-counts.
%%
%% Events for a closed period are appended to `late-N.jsonl` (not dropped).
-module(tally_shard).
-behaviour(gen_server).

-export([start_link/1, apply_events/4, positions/1, snapshot/1, close_period/4, windows/1, counters/1, name/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type position() :: {Offset :: non_neg_integer(), Line :: non_neg_integer()}.
-type source_key() :: {Source :: binary(), File :: binary()}.
-export_type([position/0, source_key/0]).

-record(state, {index :: non_neg_integer(),
                backend :: tally_engine:backend(),
                aggregator :: term(),
                positions = #{} :: #{source_key() => position()},
                dir :: file:filename(),
                snapshot_ms :: pos_integer(),
                dirty = false :: boolean(),
                late = 0 :: non_neg_integer()}).

-spec name(non_neg_integer()) -> atom().
name(Index) -> list_to_atom("tally_shard_" ++ integer_to_list(Index)).

-spec start_link(#{index := non_neg_integer(), backend := tally_engine:backend(), dir := file:filename(),
                   config := tuple(), snapshot_ms => pos_integer()}) -> {ok, pid()} | {error, term()}.
start_link(#{index := Index} = Opts) ->
    gen_server:start_link({local, name(Index)}, ?MODULE, Opts, []).

%% Applies events and records that the source is read up to Position.
-spec apply_events(atom() | pid(), source_key(), position(), [tuple()]) -> ok | {error, term()}.
apply_events(Shard, Key, Position, Events) ->
    gen_server:call(Shard, {apply, Key, Position, Events}, 60000).

-spec positions(atom() | pid()) -> #{source_key() => position()}.
positions(Shard) -> gen_server:call(Shard, positions, 60000).

-spec snapshot(atom() | pid()) -> ok | {error, term()}.
snapshot(Shard) -> gen_server:call(Shard, snapshot, 60000).

%% Closes a period (`<<"2026-10">>`) in each of the shards 0..Shards-1 at
%% once (each on its own dirty scheduler with the NIF); each bills the
%% customers `tally_core::shard::shard_of` gives it, snapshots, and answers
%% with its lines in the written form (tally_invoice:written/1). The
%% results come in shard order. No timeout: the work grows with the usage;
%% a shard that dies answers with its exit reason.
-spec close_period(pos_integer(), binary(), binary(), non_neg_integer()) ->
          [{ok, tally_invoice:written()} | {error, term()}].
close_period(Shards, Period, Plans, Version) ->
    Requests = [gen_server:send_request(name(I), {close_period, Period, Plans, Version, I, Shards})
                || I <- lists:seq(0, Shards - 1)],
    [case gen_server:wait_response(R, infinity) of
         {reply, Reply} -> Reply;
         {error, {Reason, _Shard}} -> {error, {shard_down, I, Reason}}
     end || {I, R} <- lists:zip(lists:seq(0, Shards - 1), Requests)].

-spec windows(atom() | pid()) -> {ok, [tuple()]} | {error, term()}.
windows(Shard) -> gen_server:call(Shard, windows, 60000).

-spec counters(atom() | pid()) -> map().
counters(Shard) -> gen_server:call(Shard, counters, 60000).

-spec init(map()) -> {ok, #state{}} | {stop, term()}.
init(#{index := Index, backend := Backend, dir := Dir, config := Config} = Opts) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    State0 = #state{index = Index, backend = Backend, dir = Dir,
                    snapshot_ms = maps:get(snapshot_ms, Opts, 5000)},
    case restore(State0, Config) of
        {ok, State} ->
            erlang:send_after(State#state.snapshot_ms, self(), snapshot),
            {ok, State};
        {error, Reason} ->
            {stop, Reason}
    end.

restore(#state{backend = B} = State, Config) ->
    case file:read_file(snapshot_path(State)) of
        {ok, Bin} ->
            #{export := Export, positions := Positions} = binary_to_term(Bin, [safe]),
            case tally_engine:call(B, aggregator_restore, [Export]) of
                {ok, Agg} ->
                    logger:notice(#{msg => "shard restored", shard => State#state.index,
                                    sources => map_size(Positions)}),
                    {ok, State#state{aggregator = Agg, positions = Positions}};
                {error, Reason} ->
                    {error, {bad_snapshot, snapshot_path(State), Reason}}
            end;
        {error, enoent} ->
            case tally_engine:call(B, aggregator_new, [Config]) of
                {ok, Agg} -> {ok, State#state{aggregator = Agg}};
                {error, Reason} -> {error, Reason}
            end;
        {error, Reason} ->
            {error, {snapshot_path(State), Reason}}
    end.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({apply, Key, Position, Events}, _From, #state{backend = B, aggregator = A} = State) ->
    Result = case Events of
                 [] -> {ok, {counters, 0, 0, 0}};
                 _ -> tally_engine:call(B, aggregator_add_events, [A, Events])
             end,
    case Result of
        {ok, {counters, _Applied, _Duplicates, Late}} ->
            State1 = keep_late(Late, State),
            {reply, ok, State1#state{positions = maps:put(Key, Position, State#state.positions), dirty = true}};
        {error, _} = Error ->
            {reply, Error, State}
    end;
handle_call(positions, _From, State) ->
    {reply, State#state.positions, State};
handle_call(snapshot, _From, State) ->
    case write_snapshot(State) of
        ok -> {reply, ok, State#state{dirty = false}};
        Error -> {reply, Error, State}
    end;
handle_call({close_period, Period, Plans, Version, Shard, Shards}, _From,
            #state{backend = B, aggregator = A} = State) ->
    case tally_engine:call(B, aggregator_close_shard, [A, Period, Plans, Version, Shard, Shards]) of
        {ok, Invoice} ->
            ok = write_snapshot(State),
            %% Written here: the shards format their lines at once.
            {reply, {ok, tally_invoice:written(Invoice)}, State#state{dirty = false}};
        {error, _} = Error ->
            {reply, Error, State}
    end;
handle_call(windows, _From, #state{backend = B, aggregator = A} = State) ->
    {reply, tally_engine:call(B, aggregator_windows, [A]), State};
handle_call(counters, _From, #state{backend = B, aggregator = A} = State) ->
    {ok, {counters, Applied, Duplicates, Late}} = tally_engine:call(B, aggregator_counters, [A]),
    {reply, #{applied => Applied, duplicates => Duplicates, late => Late}, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(snapshot, State) ->
    erlang:send_after(State#state.snapshot_ms, self(), snapshot),
    case State#state.dirty andalso write_snapshot(State) of
        false -> {noreply, State};
        ok -> {noreply, State#state{dirty = false}};
        {error, Reason} ->
            logger:error(#{msg => "shard snapshot failed", shard => State#state.index, reason => Reason}),
            {noreply, State}
    end;
handle_info(_Other, State) ->
    {noreply, State}.

-spec terminate(term(), #state{}) -> ok.
terminate(shutdown, #state{dirty = true} = State) ->
    _ = write_snapshot(State),  % an orderly stop keeps everything
    ok;
terminate(_Reason, _State) ->
    ok.

snapshot_path(#state{dir = Dir, index = I}) ->
    filename:join(Dir, "shard-" ++ integer_to_list(I) ++ ".snapshot").

write_snapshot(#state{backend = B, aggregator = A, positions = Positions} = State) ->
    case tally_engine:call(B, aggregator_export, [A]) of
        {ok, Export} ->
            tally_files:write_durably(snapshot_path(State),
                                      term_to_binary(#{export => Export, positions => Positions}));
        {error, _} = Error ->
            Error
    end.

%% The aggregator counts late events and keeps them; move them to a file.
keep_late(Late, #state{late = Late} = State) ->
    State;
keep_late(Late, #state{backend = B, aggregator = A, dir = Dir, index = I} = State) ->
    {ok, Events} = tally_engine:call(B, aggregator_take_late, [A]),
    Lines = [[tally_json:encode(event_json(E)), $\n] || E <- Events],
    ok = tally_files:append_durably(filename:join(Dir, "late-" ++ integer_to_list(I) ++ ".jsonl"), Lines),
    State#state{late = Late}.

event_json({usage_event, Id, Source, Customer, Resource, Meter, Value, TimeMs}) ->
    #{<<"id">> => Id, <<"source">> => Source, <<"customer">> => Customer, <<"resource">> => Resource,
      <<"meter">> => Meter, <<"value">> => Value, <<"time_ms">> => TimeMs}.
