%% @doc Closes billing periods: on demand (`tally:close_period/1`) and on a
%% schedule (`{close, #{grace_ms, check_ms}}`: once a calendar month has
%% been over for `grace_ms`, it is closed). Closing bills every shard with
%% the plans file at once (each shard bills the customers that
%% `tally_core::shard::shard_of` gives it: each customer once), puts the
%% invoice lines into the outbox (durably, before answering) and records the
%% period as closed in `closed.term`.
%%
%% Closing is idempotent: a period closed again (after a crash between the
%% close and the record, or a job run again) gives the same lines with the
%% same keys; the outbox skips the keys acknowledged before, however long
%% ago, and the sinks deduplicate what is left.
-module(tally_closer).
-behaviour(gen_server).

-export([start_link/1, close_period/1, closed/0, due_period/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(state, {config :: tally_config:config(), closed :: [binary()]}).

-type summary() :: #{period := binary(), lines := non_neg_integer(),
                     customers := #{binary() => #{currency := binary(), amount_minor := integer(), lines := pos_integer()}},
                     unbilled := [binary()], voids := non_neg_integer()}.
-export_type([summary/0]).

-spec start_link(tally_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) -> gen_server:start_link({local, ?MODULE}, ?MODULE, Config, []).

-spec close_period(binary()) -> {ok, summary()} | {error, term()}.
close_period(Period) -> gen_server:call(?MODULE, {close, Period}, infinity).

-spec closed() -> [binary()].
closed() -> gen_server:call(?MODULE, closed).

-spec init(tally_config:config()) -> {ok, #state{}}.
init(Config) ->
    Closed = case file:consult(closed_path(Config)) of
                 {ok, [List]} -> List;
                 {error, enoent} -> []
             end,
    _ = schedule(Config),
    {ok, #state{config = Config, closed = Closed}}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({close, Period}, _From, State) ->
    case close(Period, State#state.config) of
        {ok, Summary} ->
            case remember(Period, State) of
                {ok, State1} -> {reply, {ok, Summary}, State1};
                {error, _} = Error -> {reply, Error, State}
            end;
        {error, _} = Error ->
            {reply, Error, State}
    end;
handle_call(closed, _From, State) ->
    {reply, State#state.closed, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(check_schedule, #state{config = #{close := #{grace_ms := Grace}} = Config} = State) ->
    _ = schedule(Config),
    Due = due_period(erlang:system_time(millisecond), Grace),
    case lists:member(Due, State#state.closed) of
        true ->
            {noreply, State};
        false ->
            case close(Due, Config) of
                {ok, Summary} ->
                    logger:notice(#{msg => "period closed on schedule", period => Due,
                                    lines => maps:get(lines, Summary)}),
                    case remember(Due, State) of
                        {ok, State1} ->
                            {noreply, State1};
                        {error, Reason} ->
                            %% Closing again is harmless: the next check retries.
                            logger:error(#{msg => "scheduled close not recorded", period => Due,
                                           reason => Reason}),
                            {noreply, State}
                    end;
                {error, Reason} ->
                    logger:error(#{msg => "scheduled close failed", period => Due, reason => Reason}),
                    {noreply, State}
            end
    end;
handle_info(_Other, State) ->
    {noreply, State}.

schedule(#{close := #{check_ms := Ms}}) -> _ = erlang:send_after(Ms, self(), check_schedule), ok;
schedule(_) -> ok.

%% The last month that ended at least Grace ms before Now.
-spec due_period(integer(), non_neg_integer()) -> binary().
due_period(NowMs, Grace) ->
    {{Y, M, _}, _} = calendar:system_time_to_universal_time(NowMs - Grace, millisecond),
    {PY, PM} = case M of 1 -> {Y - 1, 12}; _ -> {Y, M - 1} end,
    list_to_binary(io_lib:format("~4..0b-~2..0b", [PY, PM])).

%% Records a closed period. The lines are in the outbox already; a record
%% that cannot be written (a full disk) is an error for the caller, who may
%% close again (harmless: acknowledged lines are not published twice).
remember(Period, #state{config = Config, closed = Closed} = State) ->
    New = lists:usort([Period | Closed]),
    Path = closed_path(Config),
    case tally_files:write_durably(Path, io_lib:format("~p.~n", [New])) of
        ok -> {ok, State#state{closed = New}};
        {error, Reason} -> {error, {closed_record, Path, Reason}}
    end.

closed_path(#{data_dir := Dir}) -> filename:join(Dir, "closed.term").

%% The sources are read to their end first (their files are complete for
%% this close), as `tally bill` reads its files.
close(Period, Config) ->
    case tally_pipeline:read_to_end() of
        ok -> bill(Period, Config);
        {error, _} = Error -> Error
    end.

bill(Period, #{plans := PlansPath, shards := N, invoice_version := Version, subject := Subject} = Config) ->
    case read_plans(PlansPath) of
        {ok, Plans} ->
            %% Each shard bills its own customers (with usage or named in the
            %% plans), all at once; together they bill each customer once.
            Results = tally_shard:close_period(N, Period, Plans, Version),
            case [E || {error, E} <- Results] of
                [] -> publish(Period, Subject, [Invoice || {ok, Invoice} <- Results], Version, Config);
                [Error | _] -> {error, Error}
            end;
        {error, _} = Error ->
            Error
    end.

%% Every shard's lines, as the engine wrote them (outbox batches), and
%% the voids of a reissue (tally_reissue), into the outbox in one put (it
%% checks what waits or was acknowledged once), then the period's keys
%% recorded, then the summary (a customer's lines all come from one shard).
publish(Period, Subject, Shards, Version, #{data_dir := DataDir}) ->
    Batches = [{written, Subject, B} || #{batches := Bs} <- Shards, B <- Bs],
    Ids = [Text || {written, _, {written_batch, _, Text, _}} <- Batches],
    case tally_reissue:voids(DataDir, Period, Version, Subject, Ids) of
        {ok, Voids, Record} ->
            case tally_outbox:put(tally_outbox, Batches ++ Voids) of
                ok ->
                    case Record() of
                        ok ->
                            {ok, #{period => Period,
                                   lines => lists:sum([N || {written, _, {written_batch, N, _, _}} <- Batches]),
                                   voids => length(Voids),
                                   customers => maps:from_list(
                                                  [{C, #{currency => Cur, amount_minor => A, lines => N}}
                                                   || #{totals := Ts} <- Shards,
                                                      {customer_total, C, Cur, A, N} <- Ts]),
                                   unbilled => lists:usort(lists:append([U || #{unbilled := U} <- Shards]))}};
                        {error, Reason} ->
                            {error, {issued, Reason}}
                    end;
                {error, Reason} ->
                    {error, {outbox, Reason}}
            end;
        {error, _} = Error ->
            Error
    end.

read_plans(none) -> {error, no_plans_configured};
read_plans(Path) ->
    case file:read_file(Path) of
        {ok, Bin} -> {ok, Bin};
        {error, Reason} -> {error, {plans, Path, Reason}}
    end.
