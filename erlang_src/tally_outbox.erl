%% @doc The durable outbox between billing and the bus: a directory with
%% one file per item, written to a temporary name, synced, then renamed, so
%% an item is either whole on disk or absent. An item is removed only when
%% the publisher says the sink acknowledged it; after a crash or restart
%% every item still on disk is published again (the sinks deduplicate by
%% key). Items are keyed (the invoice line's key): putting a key that is
%% already waiting changes nothing. Order: oldest first.
-module(tally_outbox).
-behaviour(gen_server).

-export([start_link/1, put/2, peek/2, ack/2, size/1, notify/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-type item() :: {Key :: binary(), Subject :: binary(), Payload :: binary()}.
-export_type([item/0]).

-record(state, {dir :: file:filename(),
                next_seq :: non_neg_integer(),
                %% key => file name, and file names in order
                index = #{} :: #{binary() => file:filename()},
                order = gb_sets:empty() :: gb_sets:set(file:filename()),
                listeners = [] :: [pid()]}).

-spec start_link(#{dir := file:filename(), name => atom()}) -> {ok, pid()} | {error, term()}.
start_link(#{name := Name} = Opts) -> gen_server:start_link({local, Name}, ?MODULE, Opts, []);
start_link(Opts) -> gen_server:start_link(?MODULE, Opts, []).

%% Stores the items durably; returns once they are on disk.
-spec put(pid() | atom(), [item()]) -> ok | {error, term()}.
put(Outbox, Items) -> gen_server:call(Outbox, {put, Items}, 60000).

%% The oldest N items, without removing them.
-spec peek(pid() | atom(), pos_integer()) -> [item()].
peek(Outbox, N) -> gen_server:call(Outbox, {peek, N}, 60000).

%% Removes acknowledged items.
-spec ack(pid() | atom(), [binary()]) -> ok.
ack(Outbox, Keys) -> gen_server:call(Outbox, {ack, Keys}, 60000).

-spec size(pid() | atom()) -> non_neg_integer().
size(Outbox) -> gen_server:call(Outbox, size).

%% Pid gets `outbox_ready` whenever items are put.
-spec notify(pid() | atom(), pid()) -> ok.
notify(Outbox, Pid) -> gen_server:call(Outbox, {notify, Pid}).

-spec init(map()) -> {ok, #state{}}.
init(#{dir := Dir}) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    %% A temporary file is a put that never finished: it was not acknowledged to anyone.
    _ = [file:delete(filename:join(Dir, F)) || F <- filelib:wildcard("*.tmp", Dir)],
    Files = lists:sort(filelib:wildcard("*.item", Dir)),
    Index = maps:from_list([{read_key(Dir, F), F} || F <- Files]),
    Next = case Files of [] -> 0; _ -> seq_of(lists:last(Files)) + 1 end,
    {ok, #state{dir = Dir, next_seq = Next, index = Index, order = gb_sets:from_list(Files)}}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({put, Items}, _From, State) ->
    case put_all(Items, State) of
        {ok, State1} ->
            _ = [L ! outbox_ready || L <- State1#state.listeners],
            {reply, ok, State1};
        {error, Reason, State1} ->
            {reply, {error, Reason}, State1}
    end;
handle_call({peek, N}, _From, #state{dir = Dir, order = Order} = State) ->
    Files = take(N, gb_sets:iterator(Order)),
    {reply, [read_item(Dir, F) || F <- Files], State};
handle_call({ack, Keys}, _From, State) ->
    {reply, ok, lists:foldl(fun remove/2, State, Keys)};
handle_call(size, _From, State) ->
    {reply, map_size(State#state.index), State};
handle_call({notify, Pid}, _From, State) ->
    {reply, ok, State#state{listeners = [Pid | lists:delete(Pid, State#state.listeners)]}};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(_Msg, State) -> {noreply, State}.

put_all([], State) ->
    {ok, State};
put_all([{Key, _, _} | Rest], #state{index = Index} = State) when is_map_key(Key, Index) ->
    put_all(Rest, State);
put_all([{Key, Subject, Payload} = Item | Rest], #state{dir = Dir, next_seq = Seq} = State)
  when is_binary(Key), is_binary(Subject), is_binary(Payload) ->
    Name = lists:flatten(io_lib:format("~16..0b.item", [Seq])),
    case tally_files:write_durably(filename:join(Dir, Name), term_to_binary(Item)) of
        ok ->
            put_all(Rest, State#state{next_seq = Seq + 1,
                                      index = maps:put(Key, Name, State#state.index),
                                      order = gb_sets:add(Name, State#state.order)});
        {error, Reason} ->
            {error, Reason, State}
    end.

remove(Key, #state{index = Index, dir = Dir} = State) ->
    case maps:take(Key, Index) of
        {Name, Rest} ->
            ok = file:delete(filename:join(Dir, Name)),
            State#state{index = Rest, order = gb_sets:delete(Name, State#state.order)};
        error ->
            State
    end.

take(0, _Iter) -> [];
take(N, Iter) ->
    case gb_sets:next(Iter) of
        {F, Next} -> [F | take(N - 1, Next)];
        none -> []
    end.

read_item(Dir, Name) ->
    {ok, Bin} = file:read_file(filename:join(Dir, Name)),
    binary_to_term(Bin, [safe]).

read_key(Dir, Name) ->
    {Key, _, _} = read_item(Dir, Name),
    Key.

seq_of(Name) ->
    list_to_integer(filename:basename(Name, ".item"), 16).
