%% @doc An aggregator process: the usage of one shard of customers (a
%% customer's shard is the engine's `shard_of`, the one rule). Collectors
%% send it, per chunk of a file, the engine's batch of the chunk's events
%% for this shard (opaque: no usage event is a term here), where the chunk
%% starts and the position it reaches; it applies the batch unless it
%% already has (its record of that file is at or past the chunk:
%% `tally_source_pos:decide/3`), so input read again after a restart is
%% skipped by position. Shards apply their batches concurrently (each on a
%% dirty scheduler with the NIF).
%%
%% Snapshots are written by the engine straight to disk
%% (`aggregator_save`), the positions and the length of the late file
%% inside them, so state and positions are always saved together. A save
%% writes what changed since the last one (a delta appended to
%% `shard-N.snapshot.log`; the engine rewrites the base `shard-N.snapshot`
%% when the files grow to twice the state), so it is due every
%% `snapshot_bytes` (64 MiB) of input applied, every `snapshot_ms` when
%% anything changed, at period close and at an orderly stop. A snapshot
%% that cannot be read is moved aside (`.bad`, its log too) and the shard
%% starts empty: the collectors read its sources again from the start,
%% which the other shards skip by position.
%%
%% Events for a closed period are appended to `late-N.jsonl` (not dropped).
%% A restored shard cuts that file back to the length its snapshot
%% recorded: the events after it are applied, and appended, again.
-module(tally_shard).
-behaviour(gen_server).

-export([start_link/1, send_batch/5, positions/1, snapshot/1, close_period/4, windows/1, counters/1, name/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type position() :: tally_source_pos:pos().
-type source_key() :: {Source :: binary(), File :: tally_source_pos:id()}.
%% A shard's close: its lines as the engine wrote them (outbox batches),
%% each customer's total, the customers with usage but no plan.
-type closed() :: #{batches := [tally_outbox:written_batch()],
                    totals := [{customer_total, binary(), binary(), integer(), pos_integer()}],
                    unbilled := [binary()]}.
-export_type([position/0, source_key/0, closed/0]).

-record(state, {index :: non_neg_integer(),
                backend :: tally_engine:backend(),
                aggregator :: term(),
                positions = #{} :: #{source_key() => position()},
                dir :: file:filename(),
                snapshot_ms :: pos_integer(),
                snapshot_bytes :: pos_integer(),
                dirty = false :: boolean(),
                work = 0 :: non_neg_integer(),          % input bytes applied since the last snapshot
                late = 0 :: non_neg_integer()}).

-define(SNAPSHOT_BYTES, 67108864).

-spec name(non_neg_integer()) -> atom().
name(Index) -> list_to_atom("tally_shard_" ++ integer_to_list(Index)).

-spec start_link(#{index := non_neg_integer(), backend := tally_engine:backend(), dir := file:filename(),
                   config := tuple(), snapshot_ms => pos_integer()}) -> {ok, pid()} | {error, term()}.
start_link(#{index := Index} = Opts) ->
    gen_server:start_link({local, name(Index)}, ?MODULE, Opts, []).

%% Asks the shard to apply its batch of a chunk of a file (generation and
%% offset From; none: no events for it) and to record that the file is
%% read up to To; a chunk the shard already has is skipped. The reply (ok
%% or {error, _}) comes to gen_server:receive_response/2: the collector
%% sends every shard its batch, then waits for them all.
-spec send_batch(atom() | pid(), source_key(), {non_neg_integer(), non_neg_integer()}, position(), term()) ->
          gen_server:request_id().
send_batch(Shard, Key, From, To, Batch) ->
    gen_server:send_request(Shard, {apply, Key, From, To, Batch}).

-spec positions(atom() | pid()) -> #{source_key() => position()}.
positions(Shard) -> gen_server:call(Shard, positions, 60000).

-spec snapshot(atom() | pid()) -> ok | {error, term()}.
snapshot(Shard) -> gen_server:call(Shard, snapshot, 60000).

%% Closes a period (`<<"2026-10">>`) in each of the shards 0..Shards-1 at
%% once (each on its own dirty scheduler with the NIF); each bills the
%% customers `tally_core::shard::shard_of` gives it, snapshots, and answers
%% with its lines as the engine wrote them (`aggregator_close_written`:
%% outbox batches of lines in the written form with their message ids,
%% no line a term) and each customer's total. The results come in shard
%% order. No timeout: the work grows with the usage;
%% a shard that dies answers with its exit reason.
-spec close_period(pos_integer(), binary(), binary(), non_neg_integer()) ->
          [{ok, closed()} | {error, term()}].
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
init(#{dir := Dir} = Opts) ->
    case tally_files:ensure_dir(filename:join(Dir, "x")) of
        ok -> start(Opts);
        {error, Reason} -> {stop, {shard_dir, Dir, Reason}}
    end.

start(#{index := Index, backend := Backend, dir := Dir, config := Config} = Opts) ->
    State0 = #state{index = Index, backend = Backend, dir = Dir,
                    snapshot_ms = maps:get(snapshot_ms, Opts, 5000),
                    snapshot_bytes = maps:get(snapshot_bytes, Opts, ?SNAPSHOT_BYTES)},
    case restore(State0, Config) of
        {ok, State} ->
            erlang:send_after(State#state.snapshot_ms, self(), snapshot),
            {ok, State};
        {error, Reason} ->
            {stop, Reason}
    end.

restore(#state{backend = B} = State, Config) ->
    Path = snapshot_path(State),
    case filelib:is_regular(Path) andalso tally_engine:call(B, aggregator_load, [Path]) of
        {ok, {loaded, Agg, Extra}} ->
            %% The positions' keys are atoms of tally_source_pos: loaded first, so `safe` knows them.
            {module, _} = code:ensure_loaded(tally_source_pos),
            #{positions := Positions, late_bytes := LateBytes} = binary_to_term(Extra, [safe]),
            logger:notice(#{msg => "shard restored", shard => State#state.index, sources => map_size(Positions)}),
            ok = cut_late(LateBytes, State),
            {ok, State#state{aggregator = Agg, positions = Positions}};
        {error, Reason} ->
            %% Damaged, or not a snapshot of this engine: kept aside, rebuilt from the sources.
            Aside = <<Path/binary, ".bad">>,
            logger:error(#{msg => "shard snapshot refused, rebuilding from the sources", shard => State#state.index,
                           path => Path, reason => Reason, moved_to => Aside}),
            ok = file:rename(Path, Aside),
            _ = file:rename(<<Path/binary, ".log">>, <<Aside/binary, ".log">>),
            fresh(State, Config);
        false ->
            fresh(State, Config)
    end.

fresh(#state{backend = B} = State, Config) ->
    ok = cut_late(0, State),
    case tally_engine:call(B, aggregator_new, [Config]) of
        {ok, Agg} -> {ok, State#state{aggregator = Agg}};
        {error, Reason} -> {error, Reason}
    end.

-spec handle_call(term(), gen_server:from(), #state{}) ->
          {reply, term(), #state{}} | {stop, term(), term(), #state{}}.
handle_call({apply, Key, From, To, Batch}, _From, #state{backend = B, aggregator = A} = State) ->
    case tally_source_pos:decide(maps:get(Key, State#state.positions, none), From, To) of
        skip ->
            {reply, ok, State};
        {error, _} = Error ->
            {reply, Error, State};
        apply ->
            Result = case Batch of
                         none -> {ok, {counters, 0, 0, late_count(State)}};
                         _ -> tally_engine:call(B, aggregator_apply_batch, [A, Batch])
                     end,
            case Result of
                {ok, {counters, _Applied, _Duplicates, Late}} ->
                    case keep_late(Late, State) of
                        {ok, State1} ->
                            {_, FromOffset} = From,
                            Work = State1#state.work + max(0, maps:get(offset, To) - FromOffset),
                            State2 = State1#state{positions = maps:put(Key, To, State#state.positions),
                                                  dirty = true, work = Work},
                            {reply, ok, snapshot_if_due(State2)};
                        {error, Reason} = Error ->
                            %% The batch is applied but its late events are not
                            %% kept: the shard restarts from its snapshot (late
                            %% file cut to match) and the collector sends again.
                            {stop, Reason, Error, State}
                    end;
                {error, _} = Error ->
                    {reply, Error, State}
            end
    end;
handle_call(positions, _From, State) ->
    {reply, State#state.positions, State};
handle_call(snapshot, _From, State) ->
    case write_snapshot(State) of
        ok -> {reply, ok, saved(State)};
        Error -> {reply, Error, State}
    end;
handle_call({close_period, Period, Plans, Version, Shard, Shards}, _From,
            #state{backend = B, aggregator = A} = State) ->
    case tally_engine:call(B, aggregator_close_written, [A, Period, Plans, Version, Shard, Shards]) of
        {ok, {written_invoice, Batches, Totals, Unbilled}} ->
            case write_snapshot(State) of
                ok ->
                    {reply, {ok, #{batches => Batches, totals => Totals, unbilled => Unbilled}},
                     State#state{dirty = false}};
                {error, Reason} ->
                    %% A full disk: the close fails and says why (closing again is harmless).
                    {reply, {error, {snapshot, State#state.index, Reason}}, State}
            end;
        {error, _} = Error ->
            {reply, Error, State}
    end;
handle_call(windows, _From, #state{backend = B, aggregator = A} = State) ->
    {reply, tally_engine:call(B, aggregator_windows, [A]), State};
handle_call(counters, _From, #state{backend = B, aggregator = A} = State) ->
    {ok, {counters, Applied, Duplicates, Late}} = tally_engine:call(B, aggregator_counters, [A]),
    {Snapshots, Written} = case get(snapshots_written) of undefined -> {0, 0}; W -> W end,
    {reply, #{applied => Applied, duplicates => Duplicates, late => Late, snapshots => Snapshots,
              snapshot_bytes => Written}, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(snapshot, State) ->
    erlang:send_after(State#state.snapshot_ms, self(), snapshot),
    case State#state.dirty andalso write_snapshot(State) of
        false -> {noreply, State};
        ok -> {noreply, saved(State)};
        {error, Reason} ->
            logger:error(#{msg => "shard snapshot failed", shard => State#state.index, reason => Reason}),
            {noreply, State}
    end;
handle_info(_Other, State) ->
    {noreply, State}.

%% Not trapping exits, a shard is not told when it is stopped: an orderly
%% stop snapshots through tally_ingest_sup:snapshot_all/0 (tally_app's
%% prep_stop). A rest_for_one restart does not wait for siblings to save.
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, _State) ->
    ok.

snapshot_path(#state{dir = Dir, index = I}) ->
    unicode:characters_to_binary(filename:join(Dir, "shard-" ++ integer_to_list(I) ++ ".snapshot")).

%% The engine writes the aggregator straight to the file (no export in the
%% VM), the positions and the late file's length with it, atomically.
write_snapshot(#state{backend = B, aggregator = A, positions = Positions} = State) ->
    Extra = term_to_binary(#{positions => Positions, late_bytes => filelib:file_size(late_path(State))}),
    case tally_engine:call(B, aggregator_save, [A, snapshot_path(State), Extra]) of
        {ok, Bytes} ->
            {N, Total} = case get(snapshots_written) of undefined -> {0, 0}; W -> W end,
            put(snapshots_written, {N + 1, Total + Bytes}),  % for counters/1
            ok;
        {error, _} = Error ->
            Error
    end.

saved(State) ->
    State#state{dirty = false, work = 0}.

%% Due every snapshot_bytes of input applied: a save writes what changed
%% since the last, so saving often costs no more in all than saving seldom
%% (and keeps the engine's record of what changed small).
snapshot_if_due(#state{work = Work, snapshot_bytes = Min} = State) when Work >= Min ->
    case write_snapshot(State) of
        ok -> saved(State);
        {error, Reason} ->
            logger:error(#{msg => "shard snapshot failed", shard => State#state.index, reason => Reason}),
            State
    end;
snapshot_if_due(State) ->
    State.

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
    {ok, State};
keep_late(Late, #state{backend = B, aggregator = A} = State) ->
    {ok, Events} = tally_engine:call(B, aggregator_take_late, [A]),
    Lines = [[tally_json:encode(event_json(E)), $\n] || E <- Events],
    Path = late_path(State),
    case tally_files:append_durably(Path, Lines) of
        ok -> {ok, State#state{late = Late}};
        {error, Reason} -> {error, {late_events, Path, Reason}}
    end.

event_json({usage_event, Id, Source, Customer, Resource, Meter, Value, TimeMs}) ->
    #{<<"id">> => Id, <<"source">> => Source, <<"customer">> => Customer, <<"resource">> => Resource,
      <<"meter">> => Meter, <<"value">> => Value, <<"time_ms">> => TimeMs}.
