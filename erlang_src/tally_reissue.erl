%% @doc What a reissue replaces. A consumer keeps, per key, the line of the
%% highest version; so a new version of a period (`invoice_version`) needs
%% to say nothing about the lines it has again, but must say which lines of
%% earlier versions are gone (a customer now without a plan, a resource
%% without usage): for each such key it publishes a void of the new version.
%%
%% For that the keys a period ever issued are kept, with the customer,
%% resource, meter and measure of their line, in `data_dir/issued/PERIOD`
%% (an Erlang term, replaced durably after each close). Closing a period
%% again gives the same voids (the outbox skips those acknowledged before).
-module(tally_reissue).

-export([voids/5]).

-type parts() :: {binary(), binary(), binary(), atom(), binary()}.

%% The voids (outbox items) of `Version` of `Period` given all its lines;
%% `Record()` then records the period's keys so far (call it once the
%% voids and the lines are in the outbox: a crash before it only means the
%% same voids are worked out again).
-spec voids(file:filename(), binary(), non_neg_integer(), binary(), [tuple()]) ->
          {ok, [tally_outbox:item()], fun(() -> ok | {error, term()})} | {error, term()}.
voids(DataDir, Period, Version, Subject, Lines) ->
    Path = path(DataDir, Period),
    case issued(Path) of
        {ok, Issued} ->
            Current = maps:from_list([{tally_invoice:key(L), parts(L)} || L <- Lines]),
            Gone = lists:sort([KP || {K, _} = KP <- maps:to_list(Issued), not is_map_key(K, Current)]),
            Items = [{tally_invoice:msg_id(K, Version), Subject, tally_invoice:void_to_json(K, Parts, Version)}
                     || {K, Parts} <- Gone],
            All = maps:merge(Issued, Current),
            Record = fun() when map_size(All) =:= map_size(Issued) -> ok;
                        () -> tally_files:write_durably(Path, term_to_binary(All))
                     end,
            {ok, Items, Record};
        {error, Reason} ->
            {error, {issued, Path, Reason}}
    end.

-spec issued(file:filename()) -> {ok, #{binary() => parts()}} | {error, term()}.
issued(Path) ->
    case file:read_file(Path) of
        {ok, Bin} -> {ok, binary_to_term(Bin, [safe])};
        {error, enoent} -> {ok, #{}};
        {error, _} = Error -> Error
    end.

parts({invoice_line, _Key, Customer, Resource, Meter, Measure, Period, _Version, _, _, _, _, _, _, _, _}) ->
    {Customer, Resource, Meter, Measure, Period}.

%% A period is `YYYY-MM` (checked by the engine before any line exists).
path(DataDir, Period) -> filename:join([DataDir, "issued", binary_to_list(Period)]).
