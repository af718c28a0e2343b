%% @doc An aggregator process: the usage of one shard of customers (a
%% customer's shard is `erlang:phash2(Customer, Shards)`). Collectors hand it
%% parsed events of a chunk of a file with where the chunk starts and the
%% position it reaches; it applies them unless it already has (its record
%% of that file is at or past the chunk: `tally_source_pos:decide/3`), so
%% input read again after a restart is skipped by position. Its snapshot
%% (the aggregator's export, those positions and the length of its late
%% file) is written to disk every `snapshot_ms` and at period close.
%%
%% Events for a closed period are appended to `late-N.jsonl` (not dropped).
%% A restored shard cuts that file back to the length its snapshot
%% recorded: the events after it are applied, and appended, again.
-module(tally_shard).
-behaviour(gen_server).

-export([start_link/1, apply_events/5, positions/1, snapshot/1, close_period/4, windows/1, counters/1, name/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type position() :: tally_source_pos:pos().
-type source_key() :: {Source :: binary(), File :: tally_source_pos:id()}.
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

%% Applies the events of a chunk of a file (generation and offset From) and
%% records that the file is read up to To; a chunk the shard already has is
%% skipped.
-spec apply_events(atom() | pid(), source_key(), {non_neg_integer(), non_neg_integer()}, position(), [tuple()]) ->
          ok | {error, term()}.
apply_events(Shard, Key, From, To, Events) ->
    gen_server:call(Shard, {apply, Key, From, To, Events}, 60000).

-spec positions(atom() | pid()) -> #{source_key() => position()}.
positions(Shard) -> gen_server:call(Shard, positions, 60000).

-spec snapshot(atom() | pid()) -> ok | {error, term()}.
snapshot(Shard) -> gen_server:call(Shard, snapshot, 60000).

%% Closes and bills a period (`<<"2026-10">>`), then snapshots.
-spec close_period(atom() | pid(), binary(), binary(), pos_integer()) -> {ok, tuple()} | {error, term()}.
close_period(Shard, Period, Plans, Version) ->
    gen_server:call(Shard, {close_period, Period, Plans, Version}, 120000).

-spec windows(atom() | pid()) -> {ok, [tuple()]} | {error, term()}.
windows(Shard) -> gen_server:call(Shard, windows, 60000).

-spec counters(atom() | pid()) -> map().
counters(Shard) -> gen_server:call(Shard, counters, 60000).

-spec init(map()) -> {ok, #state{}} | {stop, term()}.
init(#{index := Index, backend := Backend, dir := Dir, config := Config} = Opts) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    process_flag(trap_exit, true),  % an orderly stop snapshots (terminate/2)
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
            %% The positions' keys are atoms of tally_source_pos: loaded first, so `safe` knows them.
            {module, _} = code:ensure_loaded(tally_source_pos),
            #{export := Export, positions := Positions} = Snapshot = binary_to_term(Bin, [safe]),
            case tally_engine:call(B, aggregator_restore, [Export]) of
                {ok, Agg} ->
                    logger:notice(#{msg => "shard restored", shard => State#state.index,
                                    sources => map_size(Positions)}),
                    ok = cut_late(maps:get(late_bytes, Snapshot, 0), State),
                    {ok, State#state{aggregator = Agg, positions = Positions}};
                {error, Reason} ->
                    {error, {bad_snapshot, snapshot_path(State), Reason}}
            end;
        {error, enoent} ->
            ok = cut_late(0, State),
            case tally_engine:call(B, aggregator_new, [Config]) of
                {ok, Agg} -> {ok, State#state{aggregator = Agg}};
                {error, Reason} -> {error, Reason}
            end;
        {error, Reason} ->
            {error, {snapshot_path(State), Reason}}
    end.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({apply, Key, From, To, Events}, _From, #state{backend = B, aggregator = A} = State) ->
    case tally_source_pos:decide(maps:get(Key, State#state.positions, none), From, To) of
        skip ->
            {reply, ok, State};
        {error, _} = Error ->
            {reply, Error, State};
        apply ->
            Result = case Events of
                         [] -> {ok, {counters, 0, 0, late_count(State)}};
                         _ -> tally_engine:call(B, aggregator_add_events, [A, Events])
                     end,
            case Result of
                {ok, {counters, _Applied, _Duplicates, Late}} ->
                    State1 = keep_late(Late, State),
                    {reply, ok, State1#state{positions = maps:put(Key, To, State#state.positions), dirty = true}};
                {error, _} = Error ->
                    {reply, Error, State}
            end
    end;
handle_call(positions, _From, State) ->
    {reply, State#state.positions, State};
handle_call(snapshot, _From, State) ->
    case write_snapshot(State) of
        ok -> {reply, ok, State#state{dirty = false}};
        Error -> {reply, Error, State}
    end;
handle_call({close_period, Period, Plans, Version}, _From, #state{backend = B, aggregator = A} = State) ->
    case tally_engine:call(B, aggregator_close_period, [A, Period, Plans, Version]) of
        {ok, Invoice} ->
            ok = write_snapshot(State),
            {reply, {ok, Invoice}, State#state{dirty = false}};
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
                                      term_to_binary(#{export => Export, positions => Positions,
                                                       late_bytes => filelib:file_size(late_path(State))}));
        {error, _} = Error ->
            Error
    end.

late_path(#state{dir = Dir, index = I}) ->
    filename:join(Dir, "late-" ++ integer_to_list(I) ++ ".jsonl").

late_count(#state{late = Late}) -> Late.

%% Back to the length the restored snapshot recorded: the late events after
%% it belong to input that is applied again.
cut_late(Length, State) ->
    Path = late_path(State),
    case filelib:file_size(Path) > Length of
        false ->
            ok;
        true ->
            {ok, F} = file:open(Path, [read, write, raw, binary]),
            {ok, _} = file:position(F, Length),
            ok = file:truncate(F),
            ok = file:sync(F),
            file:close(F)
    end.

%% The aggregator counts late events and keeps them; move them to a file.
keep_late(Late, #state{late = Late} = State) ->
    State;
keep_late(Late, #state{backend = B, aggregator = A} = State) ->
    {ok, Events} = tally_engine:call(B, aggregator_take_late, [A]),
    Lines = [[tally_json:encode(event_json(E)), $\n] || E <- Events],
    ok = tally_files:append_durably(late_path(State), Lines),
    State#state{late = Late}.

event_json({usage_event, Id, Source, Customer, Resource, Meter, Value, TimeMs}) ->
    #{<<"id">> => Id, <<"source">> => Source, <<"customer">> => Customer, <<"resource">> => Resource,
      <<"meter">> => Meter, <<"value">> => Value, <<"time_ms">> => TimeMs}.
