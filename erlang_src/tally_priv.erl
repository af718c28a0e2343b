%% @doc Where tally's native artefacts live: the application's priv
%% directory, or `../priv` beside the beams when the application is not
%% known to the code server (a bare `-pa` build).
-module(tally_priv).

-export([dir/0, path/1]).

-spec dir() -> file:filename().
dir() ->
    case code:priv_dir(tally) of
        {error, bad_name} ->
            filename:join([filename:dirname(code:which(?MODULE)), "..", "priv"]);
        Dir ->
            Dir
    end.

-spec path(file:filename()) -> file:filename().
path(Name) ->
    filename:join(dir(), Name).
