%% @doc Test support for the Gleam tests of the application (tally/app):
%% how a term prints (to check no secret shows), and byte search.
-module(tally_bus_test_ffi).

-export([printed/1, find/2]).

%% A binary as it is; any other term as `~p` prints it (what a crash
%% report or sys:get_status shows).
-spec printed(term()) -> binary().
printed(Bin) when is_binary(Bin) -> Bin;
printed(Term) -> unicode:characters_to_binary(io_lib:format("~p", [Term])).

%% Where Needle first is in Haystack, or {-1, 0}.
-spec find(binary(), binary()) -> {integer(), non_neg_integer()}.
find(Haystack, Needle) ->
    case binary:match(Haystack, Needle) of
        nomatch -> {-1, 0};
        Found -> Found
    end.
