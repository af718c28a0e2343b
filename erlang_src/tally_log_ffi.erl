%% @doc logger for the Gleam application (tally/app/log): a report map
%% with the message under `msg` and each field under its name.
-module(tally_log_ffi).

-export([report/3]).

%% Field names are the code's own constants (never input), so they may
%% become atoms.
-spec report(info | notice | warning | error_level, binary(), [{binary(), binary()}]) -> nil.
report(Level0, Message, Fields) ->
    Level = case Level0 of error_level -> error; _ -> Level0 end,
    Report = maps:from_list([{msg, binary_to_list(Message)} | [{binary_to_atom(K), V} || {K, V} <- Fields]]),
    logger:log(Level, Report),
    nil.
