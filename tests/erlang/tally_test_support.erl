%% Helpers shared by the Erlang test modules.
-module(tally_test_support).

-export([quiet/1, ill_typed/1]).

%% Runs Fun with the logger silenced: crash and warning reports that a test
%% provokes on purpose stay out of the test output.
-spec quiet(fun(() -> T)) -> T.
quiet(Fun) ->
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, none),
    try Fun() after logger:set_primary_config(level, Level) end.

%% Hands back Term with no type Dialyzer can follow: for tests that give a
%% function a value its -spec refuses, on purpose, to check the error it
%% returns (a NIF must answer bad_argument, not crash).
-spec ill_typed(term()) -> term().
ill_typed(Term) ->
    binary_to_term(term_to_binary(Term)).
