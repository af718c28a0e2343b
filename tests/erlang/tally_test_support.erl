%% Helpers shared by the Erlang test modules.
-module(tally_test_support).

-export([quiet/1]).

%% Runs Fun with the logger silenced: crash and warning reports that a test
%% provokes on purpose stay out of the test output.
-spec quiet(fun(() -> T)) -> T.
quiet(Fun) ->
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, none),
    try Fun() after logger:set_primary_config(level, Level) end.
