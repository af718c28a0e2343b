%% @doc Shadow mode's bookkeeping (see tally/shadow.gleam): per operation, a
%% `counters` array of calls and differences, found through
%% persistent_term (written once per operation name, read without copying
%% on every call). A difference is logged with a digest of the input and
%% both answers. The secondary runs inside a catch: whatever it does, the
%% caller gets the primary's answer.
-module(tally_shadow).

-export([compare/4, stats/0, reset/0]).

-define(KEY, {?MODULE, operations}).

-spec compare(binary(), term(), term(), fun(() -> term())) -> term().
compare(Operation, Input, Primary, Secondary) ->
    Counters = counters_for(Operation),
    counters:add(Counters, 1, 1),
    Other = try Secondary()
            catch Class:Reason -> {secondary_crashed, Class, Reason}
            end,
    case Other =:= Primary of
        true ->
            ok;
        false ->
            counters:add(Counters, 2, 1),
            logger:warning(#{msg => "shadow mismatch", operation => Operation,
                             input_sha256 => digest(Input),
                             primary => trim(Primary), secondary => trim(Other)},
                           #{domain => [tally, shadow]})
    end,
    Primary.

-spec stats() -> [{shadow_stats, binary(), non_neg_integer(), non_neg_integer()}].
stats() ->
    [{shadow_stats, Op, Calls, counters:get(C, 2)}
     || {Op, C} <- lists:sort(maps:to_list(persistent_term:get(?KEY, #{}))),
        (Calls = counters:get(C, 1)) > 0].

-spec reset() -> nil.
reset() ->
    [begin counters:put(C, 1, 0), counters:put(C, 2, 0) end || C <- maps:values(persistent_term:get(?KEY, #{}))],
    nil.

counters_for(Operation) ->
    Ops = persistent_term:get(?KEY, #{}),
    case Ops of
        #{Operation := C} -> C;
        _ ->
            %% New operation names are few (one per API function): the global
            %% lock keeps two first calls from racing each other's put.
            global:trans({?KEY, self()}, fun() ->
                Now = persistent_term:get(?KEY, #{}),
                case Now of
                    #{Operation := C} -> C;
                    _ ->
                        C = counters:new(2, [write_concurrency]),
                        persistent_term:put(?KEY, Now#{Operation => C}),
                        C
                end
            end, [node()])
    end.

digest(Input) ->
    binary:encode_hex(crypto:hash(sha256, term_to_binary(Input))).

%% Answers can be large (a whole parse): log their shape, not megabytes.
trim(Term) ->
    unicode:characters_to_binary(io_lib:format("~0P", [Term, 30])).
