%% @doc The example test's two helpers (no gleeunit: no Hex packages here).
-module(interop_example_test_ffi).

-export([equal/2, println/1]).

%% Raises with both sides when they differ.
-spec equal(term(), term()) -> nil.
equal(Same, Same) ->
    nil;
equal(Got, Want) ->
    erlang:error({not_equal, [{got, Got}, {want, Want}]}).

-spec println(binary()) -> nil.
println(Line) ->
    io:format("~ts~n", [Line]),
    nil.
