%% @doc What the application's Gleam modules (gleam_src/tally/app/) cannot
%% write themselves: the port journal kept by its supervisor, stopping the
%% node, catching a crash or an exit, logging, a supervisor's children,
%% the clock, printing the job's summary.
-module(tally_app_ffi).

-export([journal_options/1, port_options/1, stop_node/1, catching/1, log_error/2, log_notice/2,
         worker_pids/1, supervisor_child/2, print/1, print_error/1, describe/1,
         bad_config/0, default_port/0,
         pad_right/2, pad_left/2, print_failure/1, normal/0, killed/0,
         log_config_error/1, catching_exit/1, now_ms/0]).

%% The port owner's options with the journal this process (the port's
%% supervisor, which runs the owner's start) keeps for every owner it
%% starts: the ETS table outlives each owner, dies with the supervisor.
-spec journal_options(map()) -> map().
journal_options(Opts) ->
    Journal = case get(tally_port_journal) of
                  undefined ->
                      T = tally_port_log:new_table(),
                      put(tally_port_journal, T),
                      T;
                  T -> T
              end,
    Opts#{journal => Journal}.

%% {Restarts, Seconds, OwnerOptions}: a port's restart intensity (10 in
%% 10 s unless `restart_intensity` says otherwise) and the owner's options.
-spec port_options(map()) -> {non_neg_integer(), pos_integer(), map()}.
port_options(Opts) ->
    {Intensity, Period} = maps:get(restart_intensity, Opts, {10, 10}),
    {Intensity, Period, maps:remove(restart_intensity, Opts)}.

%% init:stop/1 lets every application shut down in order.
-spec stop_node(0 | 1) -> nil.
stop_node(Status) -> init:stop(Status), nil.

%% Runs Fun; any exception or exit becomes {error, {Class, Reason}}.
-spec catching(fun(() -> term())) -> {ok, term()} | {error, {atom(), term()}}.
catching(Fun) ->
    try Fun() of Value -> {ok, Value}
    catch Class:Reason -> {error, {Class, Reason}}
    end.

-spec log_error(binary(), term()) -> nil.
log_error(Msg, Reason) -> logger:error(#{msg => binary_to_list(Msg), reason => Reason}), nil.

-spec log_notice(binary(), term()) -> nil.
log_notice(Msg, Detail) -> logger:notice(#{msg => binary_to_list(Msg), detail => Detail}), nil.

%% The running workers of a supervisor (registered name), in start order.
-spec worker_pids(atom()) -> [pid()].
worker_pids(Sup) ->
    [Pid || {_, Pid} <- lists:keysort(1, [{Id, Pid} || {Id, Pid, worker, _} <- which_children(Sup), is_pid(Pid)])].

%% The running child with id Index of a supervisor, if any.
-spec supervisor_child(atom(), non_neg_integer()) -> {ok, pid()} | {error, nil}.
supervisor_child(Sup, Index) ->
    case lists:keyfind(Index, 1, which_children(Sup)) of
        {_, Pid, _, _} when is_pid(Pid) -> {ok, Pid};
        _ -> {error, nil}
    end.

which_children(Sup) ->
    try supervisor:which_children(Sup)
    catch exit:_ -> []
    end.

-spec print(binary()) -> nil.
print(Text) -> io:put_chars(Text), nil.

-spec print_error(binary()) -> nil.
print_error(Text) -> io:put_chars(standard_error, Text), nil.

-spec describe(term()) -> binary().
describe(Term) -> unicode:characters_to_binary(io_lib:format("~0tp", [Term])).


-spec bad_config() -> bad_config.
bad_config() -> bad_config.

%% The options of the application's own port, registered by its owner.
-spec default_port() -> map().
default_port() -> #{name => tally_port_default}.

%% Text in a field of Width, as io:format's ~-Ns and ~Ns write it (cut to
%% the width when longer).
-spec pad_right(binary(), non_neg_integer()) -> binary().
pad_right(Text, Width) -> unicode:characters_to_binary(io_lib:format("~-*ts", [Width, Text])).

-spec pad_left(binary(), non_neg_integer()) -> binary().
pad_left(Text, Width) when byte_size(Text) >= Width -> Text;
pad_left(Text, Width) -> unicode:characters_to_binary(io_lib:format("~*ts", [Width, Text])).

-spec print_failure(term()) -> nil.
print_failure(Reason) -> io:format(standard_error, "tally job failed: ~p~n", [Reason]), nil.

-spec normal() -> normal.
normal() -> normal.

-spec killed() -> killed.
killed() -> killed.

-spec log_config_error(binary()) -> nil.
log_config_error(Text) -> logger:error(#{msg => binary_to_list(Text)}), nil.

%% Runs Fun; an exit (a call to a process that stopped) becomes
%% {error, Reason}; errors and throws are not caught.
-spec catching_exit(fun(() -> term())) -> {ok, term()} | {error, term()}.
catching_exit(Fun) ->
    try Fun() of Value -> {ok, Value}
    catch exit:Reason -> {error, Reason}
    end.

-spec now_ms() -> integer().
now_ms() -> erlang:monotonic_time(millisecond).
