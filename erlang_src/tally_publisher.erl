%% @doc Moves items from the outbox to the sink: in batches (5000 items by
%% default: one sink write and one outbox acknowledgement each), oldest first,
%% removing from the outbox only what the sink acknowledged. While the sink
%% fails (the bus is down), it retries with exponential backoff and jitter,
%% from 100 ms up to 30 s. It never touches the collectors' path: billing
%% writes to the outbox on disk and returns, whatever the bus is doing.
%%
%% Sinks are modules with init/1, publish/2 and describe/1
%% (tally_sink_file, tally_sink_nats).
-module(tally_publisher).
-behaviour(gen_server).

-export([start_link/1, stats/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(BACKOFF_MIN, 100).
-define(BACKOFF_MAX, 30000).

-record(state, {outbox :: tuple(),  % the Gleam outbox's subject (tally/app/outbox)
                sink_mod :: module(),
                sink :: term(),
                batch :: pos_integer(),
                backoff = ?BACKOFF_MIN :: pos_integer(),
                retry_timer = none :: reference() | none,
                published = 0 :: non_neg_integer(),
                failures = 0 :: non_neg_integer()}).

-spec start_link(#{outbox := tuple(), sink := {module(), map()}, batch => pos_integer(), name => atom()}) ->
          {ok, pid()} | {error, term()}.
start_link(#{name := Name} = Opts) -> gen_server:start_link({local, Name}, ?MODULE, Opts, []);
start_link(Opts) -> gen_server:start_link(?MODULE, Opts, []).

-spec stats(pid() | atom()) -> #{published := non_neg_integer(), failures := non_neg_integer()}.
stats(Publisher) -> gen_server:call(Publisher, stats).

-spec init(map()) -> {ok, #state{}} | {stop, term()}.
init(#{outbox := Outbox, sink := {Mod, SinkOpts}} = Opts) ->
    case Mod:init(SinkOpts) of
        {ok, Sink} ->
            %% OutboxReady comes through a subject of this process: {Tag, outbox_ready}.
            nil = 'tally@app@outbox':notify(Outbox, 'tally@otp@process':new_subject()),
            self() ! drain,  % what a previous run left in the outbox goes first
            logger:notice(#{msg => "publisher started", sink => Mod:describe(Sink)}),
            {ok, #state{outbox = Outbox, sink_mod = Mod, sink = Sink, batch = maps:get(batch, Opts, 5000)}};
        {error, Reason} ->
            {stop, {sink, Reason}}
    end.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(stats, _From, State) ->
    {reply, #{published => State#state.published, failures => State#state.failures,
              waiting => 'tally@app@outbox':size(State#state.outbox)}, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info({_Tag, outbox_ready}, #state{retry_timer = none} = State) ->
    {noreply, drain(State)};
handle_info({_Tag, outbox_ready}, State) ->
    {noreply, State};  % a retry is already scheduled
handle_info(drain, #state{retry_timer = none} = State) ->
    {noreply, drain(State)};
handle_info(drain, State) ->
    {noreply, State};  % a retry is already scheduled
handle_info(retry, State) ->
    {noreply, drain(State#state{retry_timer = none})};
handle_info(_Other, State) ->
    {noreply, State}.

drain(#state{outbox = Outbox, sink_mod = Mod, sink = Sink, batch = N} = State) ->
    case 'tally@app@outbox':peek(Outbox, N) of
        {ok, []} ->
            State;
        {error, Reason} ->
            retry({outbox_peek, Reason}, State#state{failures = State#state.failures + 1});
        {ok, Found} ->
            Items = [{K, S, P} || {item, K, S, P} <- Found],
            case Mod:publish(Items, Sink) of
                {ok, Keys, Sink1} ->
                    case 'tally@app@outbox':ack(Outbox, Keys) of
                        {ok, nil} ->
                            %% One batch per message: calls (stats) are answered between batches.
                            self() ! drain,
                            State#state{sink = Sink1, backoff = ?BACKOFF_MIN,
                                        published = State#state.published + length(Keys)};
                        {error, Reason} ->
                            %% Not remembered as acknowledged: sent again later, the sink dedups.
                            retry({outbox_ack, Reason}, State#state{sink = Sink1, failures = State#state.failures + 1})
                    end;
                {error, {too_large, TooLarge}, Keys, Sink1} ->
                    park(TooLarge, Keys, State#state{sink = Sink1});
                {error, Reason, Keys, Sink1} ->
                    Acked = case 'tally@app@outbox':ack(Outbox, Keys) of {ok, nil} -> length(Keys); {error, _} -> 0 end,
                    retry(Reason, State#state{sink = Sink1, published = State#state.published + Acked,
                                              failures = State#state.failures + 1})
            end
    end.

%% Items the sink refuses for good (over the server's max_payload) are not
%% retried: each is logged as an error with its key and parked by the
%% outbox (parked.jsonl, not remembered as acknowledged, so a later close
%% after the limit is raised puts it again); the items after them flow.
park(TooLarge, Keys, #state{outbox = Outbox} = State) ->
    Acked = case 'tally@app@outbox':ack(Outbox, Keys) of {ok, nil} -> length(Keys); {error, _} -> 0 end,
    _ = [logger:error(#{msg => "invoice line over the bus's max_payload, parked", key => Key,
                        size => Size, max_payload => Max}) || {Key, Size, Max} <- TooLarge],
    Why = <<"payload_too_large">>,
    State1 = State#state{published = State#state.published + Acked, failures = State#state.failures + 1},
    case 'tally@app@outbox':park(Outbox, [K || {K, _, _} <- TooLarge], Why) of
        {ok, nil} -> self() ! drain, State1;
        {error, Reason} -> retry({outbox_park, Reason}, State1)
    end.

retry(Reason, #state{backoff = Backoff} = State) ->
    Delay = Backoff div 2 + rand:uniform(Backoff),  % jitter: 0.5x to 1.5x
    logger:warning(#{msg => "publish failed, retrying", reason => Reason, retry_in_ms => Delay}),
    State#state{retry_timer = erlang:send_after(Delay, self(), retry),
                backoff = min(Backoff * 2, ?BACKOFF_MAX)}.
